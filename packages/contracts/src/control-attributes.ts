/**
 * Masakari's `control_attributes` of a host, as far as every part of Lazarus must agree on
 * them: how the text splits into `key=value` pairs, and which of them would hold a secret.
 *
 * BMC credentials are given by reference only (`password_file=`, a path under the fencer's
 * allow-listed directory). A secret written into the attributes themselves (`password=…`, or
 * a URL with `user:password@`) is refused by the api and the fencer, and masked wherever the
 * text is shown or carried (api responses, bus messages, ledger rows), so that a row written
 * before the rule, or a message from elsewhere, does not spread it.
 */

/** Keys whose value is a secret written in clear. */
export const INLINE_SECRET_KEYS: readonly string[] = ['password', 'passwd']

/** What a masked secret reads as. */
export const MASKED = '***'

/** `password=…` / `passwd=…` at a token start, the value quoted (even unterminated) or bare. */
const INLINE_SECRET = /(^|[\s,])(password|passwd)=("[^"]*"?|'[^']*'?|[^\s,]*)/gi
/** The password of a URL's user info: `scheme://user:secret@host`. */
const URL_PASSWORD = /(:\/\/[^\s,/@:]*):[^\s,/@]*@/g

/** The text with every secret written in clear replaced by `***`; references stay. */
export const maskControlAttributes = (text: string): string =>
  text.replace(INLINE_SECRET, (_m, lead: string, key: string) => `${lead}${key}=${MASKED}`).replace(URL_PASSWORD, `$1:${MASKED}@`)

/**
 * The same masking as a PostgreSQL expression over the text expression `expr`, for the
 * migrations that scrub rows written before secrets were refused.
 */
export const maskControlAttributesSql = (expr: string): string =>
  `regexp_replace(regexp_replace(${expr}, '(^|[[:space:],])(password|passwd)=("[^"]*"?|''[^'']*''?|[^[:space:],]*)', '\\1\\2=${MASKED}', 'gi'), ` +
  `'(://[^[:space:],/@:]*):[^[:space:],/@]*@', '\\1:${MASKED}@', 'g')`

/**
 * The attribute that holds a secret in clear, if any: `password` (or `passwd`), or `address`
 * (any key) when a URL in it carries `user:password@`. Undefined when there is none.
 */
export const inlineSecretAttribute = (text: string): string | undefined => {
  const pairs = controlAttributePairs(text)
  if (pairs.kind !== 'pairs') return undefined
  for (const [key, value] of pairs.pairs) {
    if (INLINE_SECRET_KEYS.includes(key)) return key
    if (/:\/\/[^\s/@]*:[^\s/@]*@/.test(value)) return key
  }
  return undefined
}

export type ControlAttributePairs =
  /** `key=value` text, in order; keys lower-cased, values unquoted. Duplicates are kept for the caller to judge. */
  | { kind: 'pairs'; pairs: [string, string][] }
  /**
   * Free text without a single `key=value` (Masakari's own docs register hosts with e.g.
   * `SSH`): it names no fencing device and sets nothing.
   */
  | { kind: 'free_text' }
  /** key=value text with a fault; `error` names the attribute, never a value that could be a secret. */
  | { kind: 'error'; error: string }

/**
 * Split `control_attributes` into `key=value` pairs separated by whitespace or commas. A
 * value may be quoted ('…' or "…") to hold spaces or commas. Empty text is no pairs.
 */
export const controlAttributePairs = (text: string): ControlAttributePairs => {
  const tokens = tokenize(text)
  if (!tokens.ok) return { kind: 'error', error: tokens.error }
  if (tokens.tokens.length > 0 && !tokens.tokens.some((t) => t.indexOf('=') > 0)) return { kind: 'free_text' }
  const pairs: [string, string][] = []
  for (const token of tokens.tokens) {
    const eq = token.indexOf('=')
    if (eq <= 0) return { kind: 'error', error: `control attribute "${token}" is not key=value` }
    pairs.push([token.slice(0, eq).toLowerCase(), unquote(token.slice(eq + 1))])
  }
  return { kind: 'pairs', pairs }
}

const unquote = (v: string): string => (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0] ? v.slice(1, -1) : v)

/** Split on whitespace and commas outside quotes. */
const tokenize = (text: string): { ok: true; tokens: string[] } | { ok: false; error: string } => {
  const tokens: string[] = []
  let current = ''
  let quote: string | undefined
  for (const ch of text) {
    if (quote) {
      current += ch
      if (ch === quote) quote = undefined
    } else if (ch === '"' || ch === "'") {
      quote = ch
      current += ch
    } else if (/[\s,]/.test(ch)) {
      if (current) tokens.push(current)
      current = ''
    } else {
      current += ch
    }
  }
  if (quote) {
    const key = current.split('=')[0] ?? current
    return { ok: false, error: `control attribute "${key}" has an unterminated quote` }
  }
  if (current) tokens.push(current)
  return { ok: true, tokens }
}
