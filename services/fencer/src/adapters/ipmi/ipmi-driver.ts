import { accessSync, constants } from 'node:fs'
import type { DeviceSettings } from '../../domain/control-attributes.js'
import { PowerConfigError, PowerDeviceError, type PowerCallOptions, type PowerDriver, type PowerStatus } from '../power/power-driver.js'
import { resolveSecret, type SecretSources } from '../power/secret.js'
import { detailOf, runChild, type ChildResult } from './run-child.js'

export interface IpmiDriverOptions extends SecretSources {
  /** Deadline of each ipmitool run; the `timeout` attribute (seconds) overrides it per host. */
  requestTimeoutMs: number
  /** The ipmitool binary; Debian's by default. */
  ipmitoolPath?: string
}

export const DEFAULT_IPMITOOL = '/usr/bin/ipmitool'

/** Keys of control_attributes the IPMI driver reads besides the common ones. */
export const IPMI_OPTION_KEYS = ['port', 'interface', 'cipher_suite', 'privilege_level', 'timeout'] as const

const PRIVILEGES: Readonly<Record<string, string>> = {
  callback: 'CALLBACK',
  user: 'USER',
  operator: 'OPERATOR',
  administrator: 'ADMINISTRATOR',
  admin: 'ADMINISTRATOR',
}

/** A BMC's IPMI settings, checked. */
export interface IpmiTarget {
  address: string
  port: number
  interface: 'lanplus' | 'lan'
  username: string | undefined
  password: string | undefined
  cipherSuite: number | undefined
  privilegeLevel: string | undefined
  timeoutMs: number
}

/** A host name or an IP literal (v4 or v6); never something ipmitool could read as an option. */
const HOST = /^[A-Za-z0-9][A-Za-z0-9._:%-]*$/

/**
 * Check the attributes of `driver=ipmi`:
 * `address` (BMC host name or IP, required), `port` (UDP, 623), `interface` (`lanplus`
 * default, or `lan` for IPMI 1.5), `cipher_suite` (ipmitool -C, lanplus only),
 * `privilege_level` (`callback`, `user`, `operator`, `administrator`), `timeout` (seconds
 * per ipmitool run), `username`, and the password attributes.
 */
export const ipmiTarget = (settings: DeviceSettings, opts: IpmiDriverOptions): IpmiTarget => {
  for (const key of Object.keys(settings.options)) {
    if (!(IPMI_OPTION_KEYS as readonly string[]).includes(key)) {
      throw new PowerConfigError(`control attribute "${key}" is not known to the ipmi driver (it reads ${IPMI_OPTION_KEYS.join(', ')})`)
    }
  }
  const o = settings.options
  const address = settings.address
  if (!address) throw new PowerConfigError('driver=ipmi needs control attribute "address" (the BMC host name or IP address)')
  if (!HOST.test(address)) throw new PowerConfigError(`control attribute "address" is not a host name or IP address: "${address}"`)

  let port = 623
  if (o.port !== undefined) {
    port = Number(o.port)
    if (!/^\d+$/.test(o.port) || port < 1 || port > 65535) throw new PowerConfigError(`control attribute "port" must be a UDP port (1-65535), not "${o.port}"`)
  }

  const iface = o.interface ?? 'lanplus'
  if (iface !== 'lanplus' && iface !== 'lan') throw new PowerConfigError(`control attribute "interface" must be lanplus or lan, not "${iface}"`)

  let cipherSuite: number | undefined
  if (o.cipher_suite !== undefined) {
    if (iface !== 'lanplus') throw new PowerConfigError('control attribute "cipher_suite" applies to interface=lanplus only')
    cipherSuite = Number(o.cipher_suite)
    if (!/^\d{1,2}$/.test(o.cipher_suite) || cipherSuite > 17) {
      throw new PowerConfigError(`control attribute "cipher_suite" must be an IPMI cipher suite id (0-17), not "${o.cipher_suite}"`)
    }
  }

  let privilegeLevel: string | undefined
  if (o.privilege_level !== undefined) {
    privilegeLevel = PRIVILEGES[o.privilege_level.toLowerCase()]
    if (!privilegeLevel) {
      throw new PowerConfigError(`control attribute "privilege_level" must be callback, user, operator or administrator, not "${o.privilege_level}"`)
    }
  }

  let timeoutMs = opts.requestTimeoutMs
  if (o.timeout !== undefined) {
    const s = Number(o.timeout)
    if (!/^\d+(\.\d+)?$/.test(o.timeout) || s <= 0 || s > 600) throw new PowerConfigError(`control attribute "timeout" must be seconds (0-600], not "${o.timeout}"`)
    timeoutMs = Math.round(s * 1000)
  }

  const password = resolveSecret(settings.password, opts)
  if (password !== undefined && /[\0\r\n]/.test(password)) throw new PowerConfigError('the BMC password holds a line break or NUL')
  return { address, port, interface: iface, username: settings.username, password, cipherSuite, privilegeLevel, timeoutMs }
}

/** ipmitool's argument list for one chassis power command; the password is never in it. */
export const ipmitoolArgs = (t: IpmiTarget, action: 'on' | 'off' | 'status'): string[] => {
  const args = ['-v', '-I', t.interface, '-H', t.address, '-p', String(t.port)]
  if (t.username !== undefined) args.push('-U', t.username)
  if (t.password !== undefined) args.push('-E') // read from IPMI_PASSWORD
  if (t.cipherSuite !== undefined) args.push('-C', String(t.cipherSuite))
  if (t.privilegeLevel !== undefined) args.push('-L', t.privilegeLevel)
  args.push('chassis', 'power', action)
  return args
}

/** Lines ipmitool -v prints on every run; they say nothing about a failure. */
const NOISE = [
  /^Loading IANA PEN Registry/,
  /^Running Get VSO Capabilities/,
  /^Invalid completion code received: Invalid command$/,
  /^Discovered IPMB address/,
  /^Get HPM\.x Capabilities request failed/,
  /^Unable to Get Channel Cipher Suites$/,
]

/** What ipmitool says when the BMC turns the login down (wrong user or password, or a level the user may not have). */
const AUTH_FAILURE =
  /RAKP 2 HMAC is invalid|unauthorized name|Activate Session command failed|Activate Session error|Get Session Challenge command failed|invalid username|Authentication type .* not supported|password is invalid/i
const PRIVILEGE_FAILURE = /Set Session Privilege Level to \S+ failed|requested maximum privilege level|insufficient privilege/i

/**
 * `driver=ipmi`: chassis power through Debian's ipmitool binary, one run per call:
 * `ipmitool -I lanplus -H <address> -p <port> -U <user> -E chassis power off|on|status`.
 * The password goes to ipmitool in its environment (IPMI_PASSWORD), never on its command
 * line, so it does not show in `ps`. Each run has a deadline; a BMC that does not answer
 * in time has its ipmitool killed and the call fails naming the BMC.
 */
export const createIpmiDriver = (settings: DeviceSettings, opts: IpmiDriverOptions): PowerDriver => {
  const target = ipmiTarget(settings, opts)
  const ipmitool = opts.ipmitoolPath ?? DEFAULT_IPMITOOL
  try {
    accessSync(ipmitool, constants.X_OK)
  } catch {
    throw new PowerConfigError(`driver=ipmi needs ipmitool, not found or not executable at ${ipmitool} (Debian package ipmitool)`)
  }
  const bmc = `BMC ${target.address}:${target.port}`
  const env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', LANG: 'C' }
  if (target.password !== undefined) env.IPMI_PASSWORD = target.password

  const run = async (action: 'on' | 'off' | 'status', call: PowerCallOptions = {}): Promise<ChildResult> => {
    const what = `ipmitool chassis power ${action}`
    let r: ChildResult
    try {
      r = await runChild(ipmitool, ipmitoolArgs(target, action), { env, timeoutMs: target.timeoutMs, signal: call.signal })
    } catch (err) {
      throw new PowerDeviceError(`${bmc}: cannot run ${ipmitool}: ${(err as Error).message}`, { cause: err })
    }
    const detail = detailOf(r.stderr, NOISE) || detailOf(r.stdout)
    if (r.timedOut && call.signal?.aborted) throw new PowerDeviceError(`${bmc}: ${what} cut short (ipmitool killed)`, { timedOut: true })
    if (r.timedOut) {
      throw new PowerDeviceError(`${bmc} did not answer ${what} within ${target.timeoutMs / 1000} s (ipmitool killed)${detail ? `: ${detail}` : ''}`, { timedOut: true })
    }
    if (r.code === 0) return r
    if (AUTH_FAILURE.test(r.stderr)) {
      throw new PowerDeviceError(
        `${bmc} refused the login${target.username !== undefined ? ` of user "${target.username}"` : ''}: wrong username or password (ipmitool: ${detail})`,
      )
    }
    if (PRIVILEGE_FAILURE.test(r.stderr)) {
      throw new PowerDeviceError(`${bmc} refused privilege level ${target.privilegeLevel ?? 'ADMINISTRATOR'} to user "${target.username ?? ''}" (ipmitool: ${detail})`)
    }
    const how = r.code === null ? `killed by ${r.signal}` : `exit ${r.code}`
    throw new PowerDeviceError(`${bmc}: ${what} failed (${how}): ${detail || 'no output'}`)
  }

  return {
    async powerOff(call) {
      await run('off', call)
    },
    async powerOn(call) {
      await run('on', call)
    },
    async status(call): Promise<PowerStatus> {
      return parsePowerStatus((await run('status', call)).stdout)
    },
  }
}

/** "Chassis Power is on" / "Chassis Power is off"; anything else is unknown. */
export const parsePowerStatus = (stdout: string): PowerStatus => {
  const m = /Chassis Power is (on|off)\b/i.exec(stdout)
  if (!m?.[1]) return 'unknown'
  return m[1].toLowerCase() === 'on' ? 'on' : 'off'
}
