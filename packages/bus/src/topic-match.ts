/**
 * AMQP topic matching: words are separated by `.`, `*` matches exactly one word and
 * `#` matches zero or more words, as a RabbitMQ topic exchange does.
 */
export const matchesTopic = (pattern: string, key: string): boolean => matchWords(pattern.split('.'), 0, key.split('.'), 0)

const matchWords = (pattern: string[], p: number, key: string[], k: number): boolean => {
  if (p === pattern.length) return k === key.length
  const word = pattern[p]
  if (word === '#') {
    // `#` swallows zero words, or one word and stays in place.
    return matchWords(pattern, p + 1, key, k) || (k < key.length && matchWords(pattern, p, key, k + 1))
  }
  if (k === key.length) return false
  return (word === '*' || word === key[k]) && matchWords(pattern, p + 1, key, k + 1)
}
