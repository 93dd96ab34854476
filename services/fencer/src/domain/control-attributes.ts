import { controlAttributePairs, INLINE_SECRET_KEYS, type QuickEvacuateLevel } from '@lazarus/contracts'

/**
 * Where a BMC password comes from: a file (under the fencer's allow-listed directory) or an
 * environment variable (one the fencer's settings allow). `inline` marks a secret written
 * into the attributes themselves: its value is not kept, and the fencer refuses it.
 */
export type SecretRef = { from: 'inline'; key: string } | { from: 'env'; name: string } | { from: 'file'; path: string }

/**
 * A host's power settings, read from its Masakari `control_attributes`.
 * `options` holds the keys only a particular driver understands; the driver checks them.
 */
export interface PowerSettings {
  /** Power driver name (`redfish`, `ipmi`, `fence_agent`, `none`); undefined when not set. */
  driver: string | undefined
  address: string | undefined
  username: string | undefined
  password: SecretRef | undefined
  verifyTls: boolean
  /** Per-host override of the segment's quick_evacuate_level. */
  quickEvacuateLevel: QuickEvacuateLevel | undefined
  options: Readonly<Record<string, string>>
  /**
   * The attributes are free text without a single key=value (Masakari's docs register hosts
   * with e.g. `SSH`): they name no fencing device and set nothing.
   */
  freeText: boolean
}

export type ParseResult = { ok: true; settings: PowerSettings } | { ok: false; error: string }

const KEY = /^[a-z][a-z0-9_]*$/

const NOTHING: PowerSettings = {
  driver: undefined,
  address: undefined,
  username: undefined,
  password: undefined,
  verifyTls: true,
  quickEvacuateLevel: undefined,
  options: {},
  freeText: false,
}

/**
 * Parse `control_attributes`: `key=value` pairs separated by whitespace or commas, e.g.
 * `driver=redfish address=https://bmc-01/redfish/v1/Systems/1 username=admin password_file=/etc/lazarus/bmc/bmc-01`.
 * A value may be quoted ('…' or "…") to hold spaces or commas. Empty text is valid (no
 * driver); so is free text without any `=` (no driver either). Every error names the
 * attribute at fault, and never echoes a password.
 */
export const parseControlAttributes = (text: string): ParseResult => {
  const split = controlAttributePairs(text)
  if (split.kind === 'error') return fail(split.error)
  if (split.kind === 'free_text') return { ok: true, settings: { ...NOTHING, freeText: true } }
  const pairs = new Map<string, string>()
  for (const [key, value] of split.pairs) {
    if (!KEY.test(key)) return fail(`control attribute "${key}" is not a valid key`)
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

  const secrets = [...INLINE_SECRET_KEYS, 'password_env', 'password_file'].filter((k) => pairs.has(k))
  if (secrets.length > 1) return fail(`control attributes ${secrets.map((k) => `"${k}"`).join(' and ')} are exclusive: give one`)
  let password: SecretRef | undefined
  for (const key of INLINE_SECRET_KEYS) {
    // The value is dropped here: nothing downstream can use (or show) a secret given in clear.
    if (take(key) !== undefined) password = { from: 'inline', key }
  }
  const env = take('password_env')
  const file = take('password_file')
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
    settings: { driver, address, username, password, verifyTls, quickEvacuateLevel, options: Object.fromEntries(pairs), freeText: false },
  }
}

const fail = (error: string): ParseResult => ({ ok: false, error })

const parseBool = (v: string): boolean | undefined => {
  const s = v.toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(s)) return true
  if (['false', 'no', '0', 'off'].includes(s)) return false
  return undefined
}
