import type { QuickEvacuateLevel } from '@lazarus/contracts'

/** Where a BMC password comes from: inline, an environment variable or a file. */
export type SecretRef = { from: 'inline'; value: string } | { from: 'env'; name: string } | { from: 'file'; path: string }

/**
 * A host's power settings, read from its Masakari `control_attributes`.
 * `options` holds the keys only a particular driver understands; the driver checks them.
 */
export interface PowerSettings {
  /** Power driver name (`redfish`, `none`, later `ipmi`, `fence_agent`); undefined when not set. */
  driver: string | undefined
  address: string | undefined
  username: string | undefined
  password: SecretRef | undefined
  verifyTls: boolean
  /** Per-host override of the segment's quick_evacuate_level. */
  quickEvacuateLevel: QuickEvacuateLevel | undefined
  options: Readonly<Record<string, string>>
}

export type ParseResult = { ok: true; settings: PowerSettings } | { ok: false; error: string }

const KEY = /^[a-z][a-z0-9_]*$/

/**
 * Parse `control_attributes`: `key=value` pairs separated by whitespace or commas, e.g.
 * `driver=redfish address=https://bmc-01/redfish/v1/Systems/1 username=admin password_env=BMC_PW`.
 * A value may be quoted ('…' or "…") to hold spaces or commas. Empty text is valid (no
 * driver). Every error names the attribute at fault, and never echoes a password.
 */
export const parseControlAttributes = (text: string): ParseResult => {
  const tokens = tokenize(text)
  if (!tokens.ok) return tokens
  const pairs = new Map<string, string>()
  for (const token of tokens.tokens) {
    const eq = token.indexOf('=')
    if (eq <= 0) return fail(`control attribute "${token}" is not key=value`)
    const key = token.slice(0, eq).toLowerCase()
    const value = unquote(token.slice(eq + 1))
    if (!KEY.test(key)) return fail(`control attribute "${token.slice(0, eq)}" is not a valid key`)
    if (pairs.has(key)) return fail(`control attribute "${key}" is given twice`)
    if (value === '') return fail(`control attribute "${key}" has an empty value`)
    pairs.set(key, value)
  }

  const take = (key: string): string | undefined => {
    const v = pairs.get(key)
    pairs.delete(key)
    return v
  }

  const driver = take('driver')
  if (driver !== undefined && !KEY.test(driver)) return fail(`control attribute "driver" has an invalid value "${driver}"`)

  const secrets = (['password', 'password_env', 'password_file'] as const).filter((k) => pairs.has(k))
  if (secrets.length > 1) return fail(`control attributes ${secrets.map((k) => `"${k}"`).join(' and ')} are exclusive: give one`)
  let password: SecretRef | undefined
  const inline = take('password')
  const env = take('password_env')
  const file = take('password_file')
  if (inline !== undefined) password = { from: 'inline', value: inline }
  if (env !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) return fail(`control attribute "password_env" is not an environment variable name: "${env}"`)
    password = { from: 'env', name: env }
  }
  if (file !== undefined) password = { from: 'file', path: file }

  let verifyTls = true
  const verify = take('verify_tls')
  if (verify !== undefined) {
    const b = parseBool(verify)
    if (b === undefined) return fail(`control attribute "verify_tls" must be true or false, not "${verify}"`)
    verifyTls = b
  }

  let quickEvacuateLevel: QuickEvacuateLevel | undefined
  const level = take('quick_evacuate_level')
  if (level !== undefined) {
    if (level !== '1' && level !== '2' && level !== '3') return fail(`control attribute "quick_evacuate_level" must be 1, 2 or 3, not "${level}"`)
    quickEvacuateLevel = Number(level) as QuickEvacuateLevel
  }

  const address = take('address')
  const username = take('username')
  return {
    ok: true,
    settings: { driver, address, username, password, verifyTls, quickEvacuateLevel, options: Object.fromEntries(pairs) },
  }
}

const fail = (error: string): ParseResult => ({ ok: false, error })

const parseBool = (v: string): boolean | undefined => {
  const s = v.toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(s)) return true
  if (['false', 'no', '0', 'off'].includes(s)) return false
  return undefined
}

const unquote = (v: string): string =>
  v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0] ? v.slice(1, -1) : v

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
