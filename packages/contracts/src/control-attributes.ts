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

/**
 * `password=…` / `passwd=…` at a token start, a fencing device's too (`level2.pdu-a.password=…`),
 * the value quoted (even unterminated) or bare.
 */
const INLINE_SECRET = /(^|[\s,])((?:[^\s,=]*\.)?(?:password|passwd))=("[^"]*"?|'[^']*'?|[^\s,]*)/gi
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
 * The attribute that holds a secret in clear, if any: `password` (or `passwd`), a fencing
 * device's (`level2.pdu-a.password`), or any key whose value is a URL that carries
 * `user:password@`. Undefined when there is none.
 */
export const inlineSecretAttribute = (text: string): string | undefined => {
  const pairs = controlAttributePairs(text)
  if (pairs.kind !== 'pairs') return undefined
  for (const [key, value] of pairs.pairs) {
    if (INLINE_SECRET_KEYS.includes(key.slice(key.lastIndexOf('.') + 1))) return key
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

/** The keys of one fencing device of a topology: `level<N>.<device>.<key>=value`, prefix removed. */
export interface DeviceAttributes {
  /** The fencing level, 1-9: levels are tried in increasing order. */
  level: number
  /** The device's name within its level. */
  device: string
  /** Its keys, without the `level<N>.<device>.` prefix, in order. */
  pairs: [string, string][]
}

export type ControlAttributeTopology =
  /**
   * `host`: the un-prefixed pairs (host settings such as `quick_evacuate_level`, and the
   * single device of level 1 as written before topologies); `devices`: the prefixed ones,
   * by level then by first appearance. Duplicates are kept for the caller to judge.
   */
  { kind: 'topology'; host: [string, string][]; devices: DeviceAttributes[] } | { kind: 'free_text' } | { kind: 'error'; error: string }

/** `level<N>.<device>.<key>`: N 1-9, a device name of lower-case letters, digits, `-` and `_`. */
const DEVICE_KEY = /^level([1-9])\.([a-z][a-z0-9_-]{0,31})\.([^.]+)$/

/**
 * Split `control_attributes` into host keys and the fencing devices of a topology: a key
 * `level2.pdu-a.driver` belongs to device `pdu-a` of level 2. Any other key with a dot is an
 * error naming it. The one reading of the syntax for the api (its warnings) and the fencer.
 */
export const controlAttributeTopology = (text: string): ControlAttributeTopology => {
  const split = controlAttributePairs(text)
  if (split.kind !== 'pairs') return split
  const host: [string, string][] = []
  const devices = new Map<string, DeviceAttributes>()
  for (const [key, value] of split.pairs) {
    if (!key.includes('.')) {
      host.push([key, value])
      continue
    }
    const m = DEVICE_KEY.exec(key)
    if (!m) return { kind: 'error', error: `control attribute "${key}" is neither a key nor level<1-9>.<device>.<key>` }
    const [, level, device, own] = m as unknown as [string, string, string, string]
    const id = `${level}.${device}`
    const entry = devices.get(id) ?? { level: Number(level), device, pairs: [] }
    entry.pairs.push([own, value])
    devices.set(id, entry)
  }
  return { kind: 'topology', host, devices: [...devices.values()].sort((a, b) => a.level - b.level) }
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
