import { controlAttributeTopology, INLINE_SECRET_KEYS, type QuickEvacuateLevel } from '@lazarus/contracts'

/**
 * Where a BMC password comes from: a file (under the fencer's allow-listed directory) or an
 * environment variable (one the fencer's settings allow). `inline` marks a secret written
 * into the attributes themselves: its value is not kept, and the fencer refuses it.
 */
export type SecretRef = { from: 'inline'; key: string } | { from: 'env'; name: string } | { from: 'file'; path: string }

/** One power device's settings: what a power driver reads. */
export interface DeviceSettings {
  /** Power driver name (`redfish`, `ipmi`, `fence_agent`, `none`); undefined when not set. */
  driver: string | undefined
  address: string | undefined
  username: string | undefined
  password: SecretRef | undefined
  verifyTls: boolean
  /** The keys only a particular driver understands; the driver checks them. */
  options: Readonly<Record<string, string>>
}

/** A device of a fencing level, with how often and how long it is tried. */
export interface FenceDevice {
  level: number
  /** `default` for the un-prefixed device; else the name of `level<N>.<name>.*`. */
  name: string
  /** The attribute prefix of its keys (`level2.pdu-a.`, or empty), to name them in messages. */
  prefix: string
  settings: DeviceSettings
  /** Tries of power off and confirmation before the device counts as failed (`attempts`, default 1). */
  attempts: number
  /** Deadline of each try (`attempt_timeout`, seconds); undefined: the driver's own request deadlines and the confirmation window. */
  attemptTimeoutMs: number | undefined
}

/** A fencing level: the host counts as off only when every device of it confirmed off. */
export interface FenceLevel {
  level: number
  devices: readonly FenceDevice[]
}

/**
 * A host's power settings, read from its Masakari `control_attributes`. The top-level
 * device fields are the un-prefixed device (level 1 as written before topologies); `levels`
 * is the whole topology, in the order it is tried, un-prefixed device included.
 */
export interface PowerSettings extends DeviceSettings {
  /** Per-host override of the segment's quick_evacuate_level. */
  quickEvacuateLevel: QuickEvacuateLevel | undefined
  /**
   * The attributes are free text without a single key=value (Masakari's docs register hosts
   * with e.g. `SSH`): they name no fencing device and set nothing.
   */
  freeText: boolean
  /** The fencing levels, tried in increasing order; empty when no device (other than `none`) is named. */
  levels: readonly FenceLevel[]
  /**
   * `kdump=true kdump_address=<ip>`: the host announces a kernel dump with fence_kdump_send
   * from that address; its power off waits for the dump (domain/kdump.ts).
   */
  kdump: { address: string } | undefined
}

export type ParseResult = { ok: true; settings: PowerSettings } | { ok: false; error: string }

const KEY = /^[a-z][a-z0-9_]*$/

/** An IPv4 or IPv6 address as written (what a UDP source address is compared with). */
const IP_ADDRESS = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/

/** Fencing devices a host may have, all levels together. */
const MAX_DEVICES = 10

/** The name of the un-prefixed device in messages and in the attempts of a fence. */
export const DEFAULT_DEVICE = 'default'

const NO_DEVICE: DeviceSettings = { driver: undefined, address: undefined, username: undefined, password: undefined, verifyTls: true, options: {} }

const NOTHING: PowerSettings = { ...NO_DEVICE, quickEvacuateLevel: undefined, freeText: false, levels: [], kdump: undefined }

/**
 * Parse `control_attributes`: `key=value` pairs separated by whitespace or commas, e.g.
 * `driver=redfish address=https://bmc-01/redfish/v1/Systems/1 username=admin password_file=/etc/lazarus/bmc/bmc-01`.
 * A value may be quoted ('…' or "…") to hold spaces or commas. Empty text is valid (no
 * driver); so is free text without any `=` (no driver either). Every error names the
 * attribute at fault, and never echoes a password.
 *
 * A fencing topology adds devices as `level<N>.<device>.<key>=value` (README: Fencing
 * topology): the un-prefixed device is level 1 alone, levels are tried in increasing order,
 * and each device of a level must confirm the host off. Each device has the keys of the
 * un-prefixed one (and the same secret rules), plus `attempts` and `attempt_timeout`.
 */
export const parseControlAttributes = (text: string): ParseResult => {
  const split = controlAttributeTopology(text)
  if (split.kind === 'error') return fail(split.error)
  if (split.kind === 'free_text') return { ok: true, settings: { ...NOTHING, freeText: true } }

  const pairs = new Map<string, string>()
  for (const [key, value] of split.host) {
    const bad = checkPair(key, value, '', pairs)
    if (bad) return fail(bad)
    pairs.set(key, value)
  }
  let quickEvacuateLevel: QuickEvacuateLevel | undefined
  const level = pairs.get('quick_evacuate_level')
  pairs.delete('quick_evacuate_level')
  if (level !== undefined) {
    if (level !== '1' && level !== '2' && level !== '3') return fail(`control attribute "quick_evacuate_level" must be 1, 2 or 3, not "${level}"`)
    quickEvacuateLevel = Number(level) as QuickEvacuateLevel
  }

  let kdump: PowerSettings['kdump']
  const kdumpOn = pairs.get('kdump')
  const kdumpAddress = pairs.get('kdump_address')
  pairs.delete('kdump')
  pairs.delete('kdump_address')
  if (kdumpOn !== undefined) {
    const on = parseBool(kdumpOn)
    if (on === undefined) return fail(`control attribute "kdump" must be true or false, not "${kdumpOn}"`)
    if (on && kdumpAddress === undefined) return fail('control attribute "kdump_address" is missing: kdump=true needs the address the host sends fence_kdump messages from')
    if (on && kdumpAddress !== undefined) {
      if (!IP_ADDRESS.test(kdumpAddress)) return fail(`control attribute "kdump_address" must be an IP address, not "${kdumpAddress}"`)
      kdump = { address: kdumpAddress.toLowerCase() }
    }
  } else if (kdumpAddress !== undefined) {
    return fail('control attribute "kdump_address" is given without kdump=true')
  }

  const main = readDevice(pairs, '')
  if (!main.ok) return main
  const devices: FenceDevice[] = []
  const stray = main.device.settings.driver === undefined && split.devices.length > 0 ? strayDeviceKey(main.device.settings) : undefined
  if (stray) return fail(`control attribute "${stray}" belongs to no device: the un-prefixed device needs driver=…, or give it as level<N>.<device>.${stray}`)
  if (main.device.settings.driver !== undefined && main.device.settings.driver !== 'none') devices.push(main.device)

  for (const d of split.devices) {
    const prefix = `level${d.level}.${d.device}.`
    if (d.level === 1 && devices[0]?.prefix === '') {
      return fail(
        `control attribute "${prefix}${d.pairs[0]?.[0] ?? 'driver'}": level 1 is the un-prefixed device (driver=…); give level 1 either un-prefixed or as level1.<device>.*`,
      )
    }
    const own = new Map<string, string>()
    for (const [key, value] of d.pairs) {
      const bad = checkPair(key, value, prefix, own)
      if (bad) return fail(bad)
      own.set(key, value)
    }
    for (const hostKey of ['quick_evacuate_level', 'kdump', 'kdump_address']) {
      if (own.has(hostKey)) return fail(`control attribute "${prefix}${hostKey}": ${hostKey} is a host setting, give it un-prefixed`)
    }
    const read = readDevice(own, prefix, { level: d.level, name: d.device })
    if (!read.ok) return read
    const driver = read.device.settings.driver
    if (driver === undefined) return fail(`control attribute "${prefix}driver" is missing: every device of a fencing level needs a power driver`)
    if (driver === 'none') return fail(`control attribute "${prefix}driver": none switches no power, it cannot be a device of a fencing level`)
    devices.push(read.device)
  }

  // Bounded so that every attempt of a fence fits its outcome (at most 100, 10 tries each).
  if (devices.length > MAX_DEVICES) return fail(`control attributes name ${devices.length} fencing devices: at most ${MAX_DEVICES}`)
  const levels: FenceLevel[] = []
  for (const device of devices) {
    const last = levels.at(-1)
    if (last?.level === device.level) (last.devices as FenceDevice[]).push(device)
    else levels.push({ level: device.level, devices: [device] })
  }
  return { ok: true, settings: { ...main.device.settings, quickEvacuateLevel, freeText: false, levels, kdump } }
}

/** A key=value pair that cannot be read, named with its prefix; undefined when it is fine. */
const checkPair = (key: string, value: string, prefix: string, seen: ReadonlyMap<string, string>): string | undefined => {
  if (!KEY.test(key)) return `control attribute "${prefix}${key}" is not a valid key`
  if (seen.has(key)) return `control attribute "${prefix}${key}" is given twice`
  if (value === '') return `control attribute "${prefix}${key}" has an empty value`
  return undefined
}

/** A key of a device written un-prefixed, when no un-prefixed driver makes it a device. */
const strayDeviceKey = (s: DeviceSettings): string | undefined => {
  if (s.address !== undefined) return 'address'
  if (s.username !== undefined) return 'username'
  if (s.password !== undefined) return s.password.from === 'inline' ? s.password.key : s.password.from === 'env' ? 'password_env' : 'password_file'
  return Object.keys(s.options)[0]
}

type DeviceResult = { ok: true; device: FenceDevice } | { ok: false; error: string }

/** Take one device's keys out of `pairs` (the rest are its driver's options). */
const readDevice = (pairs: Map<string, string>, prefix: string, where: { level: number; name: string } = { level: 1, name: DEFAULT_DEVICE }): DeviceResult => {
  const name = (key: string) => `"${prefix}${key}"`
  const failed = (error: string): DeviceResult => ({ ok: false, error })
  const take = (key: string): string | undefined => {
    const v = pairs.get(key)
    pairs.delete(key)
    return v
  }

  const driver = take('driver')
  if (driver !== undefined && !KEY.test(driver)) return failed(`control attribute ${name('driver')} has an invalid value "${driver}"`)

  const secrets = [...INLINE_SECRET_KEYS, 'password_env', 'password_file'].filter((k) => pairs.has(k))
  if (secrets.length > 1) return failed(`control attributes ${secrets.map(name).join(' and ')} are exclusive: give one`)
  let password: SecretRef | undefined
  for (const key of INLINE_SECRET_KEYS) {
    // The value is dropped here: nothing downstream can use (or show) a secret given in clear.
    if (take(key) !== undefined) password = { from: 'inline', key: `${prefix}${key}` }
  }
  const env = take('password_env')
  const file = take('password_file')
  if (env !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) return failed(`control attribute ${name('password_env')} is not an environment variable name: "${env}"`)
    password = { from: 'env', name: env }
  }
  if (file !== undefined) password = { from: 'file', path: file }

  let verifyTls = true
  const verify = take('verify_tls')
  if (verify !== undefined) {
    const b = parseBool(verify)
    if (b === undefined) return failed(`control attribute ${name('verify_tls')} must be true or false, not "${verify}"`)
    verifyTls = b
  }

  let attempts = 1
  const tries = take('attempts')
  if (tries !== undefined) {
    attempts = Number(tries)
    if (!/^\d{1,2}$/.test(tries) || attempts < 1 || attempts > 10) return failed(`control attribute ${name('attempts')} must be a number of tries from 1 to 10, not "${tries}"`)
  }
  let attemptTimeoutMs: number | undefined
  const timeout = take('attempt_timeout')
  if (timeout !== undefined) {
    const s = Number(timeout)
    if (!/^\d+(\.\d+)?$/.test(timeout) || s <= 0 || s > 600) return failed(`control attribute ${name('attempt_timeout')} must be seconds (0-600], not "${timeout}"`)
    attemptTimeoutMs = Math.round(s * 1000)
  }

  const address = take('address')
  const username = take('username')
  const settings: DeviceSettings = { driver, address, username, password, verifyTls, options: Object.fromEntries(pairs) }
  return { ok: true, device: { level: where.level, name: where.name, prefix, settings, attempts, attemptTimeoutMs } }
}

const fail = (error: string): ParseResult => ({ ok: false, error })

const parseBool = (v: string): boolean | undefined => {
  const s = v.toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(s)) return true
  if (['false', 'no', '0', 'off'].includes(s)) return false
  return undefined
}
