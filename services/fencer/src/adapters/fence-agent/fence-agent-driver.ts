import { accessSync, constants, statSync } from 'node:fs'
import { join } from 'node:path'
import type { DeviceSettings } from '../../domain/control-attributes.js'
import { detailOf, runChild, type ChildResult } from '../ipmi/run-child.js'
import { PowerConfigError, PowerDeviceError, type PowerCallOptions, type PowerDriver, type PowerStatus } from '../power/power-driver.js'
import { resolveSecret, type SecretSources } from '../power/secret.js'

export interface FenceAgentDriverOptions extends SecretSources {
  /**
   * Deadline of each agent run, unless the host's `agent_timeout` attribute (seconds) sets
   * one. Agents confirm the power state themselves (power_wait, power_timeout), so the
   * default is never below {@link MIN_DEFAULT_AGENT_TIMEOUT_MS}.
   */
  requestTimeoutMs: number
  /** Where agents may be found, in order; Debian's fence-agents installs them in /usr/sbin. */
  agentDirs?: readonly string[]
}

export const DEFAULT_AGENT_DIRS: readonly string[] = ['/usr/sbin', '/usr/bin']
export const MIN_DEFAULT_AGENT_TIMEOUT_MS = 20_000

/** Attributes the driver reads itself; every other option goes to the agent. */
export const FENCE_AGENT_OWN_KEYS = ['agent', 'agent_timeout'] as const

const AGENT_NAME = /^fence_[a-z0-9_]+$/

/** fence_* programs that are not power devices: they cannot make a host harmless. */
const NOT_POWER_AGENTS: Readonly<Record<string, string>> = {
  fence_ack_manual: 'it only acknowledges a manual fence',
  fence_compute: 'it acts on Nova, not on the host power',
  fence_evacuate: 'it evacuates instances, it does not fence',
  fence_kdump: 'it waits for a kdump message, it does not switch power',
}

/**
 * Agent options that run a program, write a file or set credentials behind the fencer's
 * back. Control attributes come through the API; they must not reach a shell.
 */
const FORBIDDEN_KEYS = new Set([
  'action',
  'option', // the legacy name of action
  'login', // give username=
  'passwd', // give password, password_env or password_file
  'exec',
  'ssh_options',
  'runonfail',
  'runonwarn',
  'logfile',
  'debug_file',
  'debug',
  'use_sudo',
  'sudo',
])
const FORBIDDEN_SUFFIX = /_(path|script)$/

export interface FenceAgentCall {
  /** The agent's full path (a symlink such as fence_ilo4 is kept: the agent behaves by its name). */
  path: string
  name: string
  /** `key=value` lines after `action=…`, the password among them. */
  lines: string[]
  /** The device address, for messages. */
  device: string
  timeoutMs: number
  password: string | undefined
}

/**
 * Check the attributes of `driver=fence_agent`: `agent` (a `fence_*` program installed in
 * /usr/sbin or /usr/bin, required), `agent_timeout` (seconds per run), `address` (sent as
 * `ip`, or give `ip` itself), `username`, the password attributes, and any option of the
 * agent (`ipport`, `lanplus`, `cipher`, `plug`, `ssl_insecure`, `power_timeout`…), passed
 * through unchanged.
 */
export const fenceAgentCall = (settings: DeviceSettings, opts: FenceAgentDriverOptions): FenceAgentCall => {
  const { agent, agent_timeout: agentTimeout, ...passThrough } = settings.options
  if (!agent) throw new PowerConfigError('driver=fence_agent needs control attribute "agent" (e.g. agent=fence_ipmilan)')
  if (!AGENT_NAME.test(agent)) throw new PowerConfigError(`control attribute "agent": "${agent}" is not a fence agent name (fence_…)`)
  const notPower = NOT_POWER_AGENTS[agent]
  if (notPower) throw new PowerConfigError(`control attribute "agent": ${agent} cannot be a power driver: ${notPower}`)
  const dirs = opts.agentDirs ?? DEFAULT_AGENT_DIRS
  const path = dirs.map((d) => join(d, agent)).find(isExecutableFile)
  if (!path) throw new PowerConfigError(`control attribute "agent": ${agent} is not installed in ${dirs.join(' or ')}`)

  for (const key of Object.keys(passThrough)) {
    if (FORBIDDEN_KEYS.has(key) || FORBIDDEN_SUFFIX.test(key)) {
      throw new PowerConfigError(`control attribute "${key}" may not be passed to a fence agent`)
    }
  }

  if (settings.address !== undefined && passThrough.ip !== undefined) {
    throw new PowerConfigError('control attributes "address" and "ip" are the same for a fence agent: give one')
  }
  const ip = passThrough.ip ?? settings.address
  const lines: string[] = []
  if (ip !== undefined) lines.push(`ip=${ip}`)
  for (const [key, value] of Object.entries(passThrough)) if (key !== 'ip') lines.push(`${key}=${value}`)
  if (settings.username !== undefined) lines.push(`username=${settings.username}`)
  const password = resolveSecret(settings.password, opts)
  if (password !== undefined) lines.push(`password=${password}`)
  for (const line of lines) {
    if (/[\0\r\n]/.test(line)) {
      const key = line.slice(0, line.indexOf('='))
      throw new PowerConfigError(`control attribute "${key}" holds a line break or NUL`)
    }
  }

  let timeoutMs = Math.max(opts.requestTimeoutMs, MIN_DEFAULT_AGENT_TIMEOUT_MS)
  if (agentTimeout !== undefined) {
    const s = Number(agentTimeout)
    if (!/^\d+(\.\d+)?$/.test(agentTimeout) || s <= 0 || s > 600) {
      throw new PowerConfigError(`control attribute "agent_timeout" must be seconds (0-600], not "${agentTimeout}"`)
    }
    timeoutMs = Math.round(s * 1000)
  }
  const port = passThrough.ipport
  const device = ip !== undefined ? (port !== undefined ? `${ip}:${port}` : ip) : (passThrough.plug ?? passThrough.port ?? 'its device')
  return { path, name: agent, lines, device, timeoutMs, password }
}

const isExecutableFile = (p: string): boolean => {
  try {
    if (!statSync(p).isFile()) return false
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Lines agents print that say nothing about the failure. */
const NOISE = [/DeprecationWarning/, /^from pipes import quote$/, /^import (pipes|telnetlib)$/]
/** Timestamps of the fencing library's log format, and Python's bare `LEVEL:root:` format. */
const LOG_PREFIX = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ /gm
const ROOT_LOGGER = /^([A-Z]+):root:/gm

/** The agent could not log in, in the words of the fencing library and of the tools it runs. */
const LOGIN_FAILURE =
  /Unable to connect\/login to fencing device|Unable to establish IPMI|RAKP 2 HMAC is invalid|unauthorized name|Activate Session command failed|Authentication failed|Permission denied|HTTP\/\S+ 401|\b401 Unauthorized|login denied|Login failed/i

/**
 * `driver=fence_agent`: any ClusterLabs fence agent, run once per call with no
 * arguments and its options on stdin, one `key=value` a line (`action=off|on|status`,
 * `ip=…`, `username=…`, `password=…`, and the host's other attributes). The password
 * never appears on a command line. Exit status: 0 done; for `status` 0 is on and 2 is
 * off; anything else (1) is a failure. `off` and `on` succeed only once the agent itself
 * has seen the new state. A run past its deadline is killed with everything it started.
 */
export const createFenceAgentDriver = (settings: DeviceSettings, opts: FenceAgentDriverOptions): PowerDriver => {
  const call = fenceAgentCall(settings, opts)
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    LC_ALL: 'C',
    LANG: 'C',
    PYTHONWARNINGS: 'ignore',
  }
  if (process.env.HOME) env.HOME = process.env.HOME // ssh-based agents look for keys and known_hosts there
  const redact = (text: string): string => (call.password ? text.split(call.password).join('***') : text)

  const run = async (action: 'on' | 'off' | 'status', opts: PowerCallOptions = {}): Promise<ChildResult> => {
    const who = `fence agent ${call.name} (device ${call.device})`
    const input = [`action=${action}`, ...call.lines, ''].join('\n')
    let r: ChildResult
    try {
      r = await runChild(call.path, [], { env, input, timeoutMs: call.timeoutMs, signal: opts.signal })
    } catch (err) {
      throw new PowerDeviceError(`${who}: cannot run ${call.path}: ${(err as Error).message}`, { cause: err })
    }
    r = { ...r, stdout: redact(r.stdout), stderr: redact(r.stderr).replace(LOG_PREFIX, '').replace(ROOT_LOGGER, '$1: ') }
    if (r.timedOut) {
      const said = detailOf(r.stderr, NOISE)
      if (opts.signal?.aborted) throw new PowerDeviceError(`${who}: ${action} cut short (killed)${said ? `: ${said}` : ''}`, { timedOut: true })
      throw new PowerDeviceError(`${who} did not finish ${action} within ${call.timeoutMs / 1000} s (killed)${said ? `: ${said}` : ''}`, { timedOut: true })
    }
    if (r.code === 0 || (action === 'status' && r.code === 2)) return r
    const detail = detailOf(r.stderr, NOISE) || detailOf(r.stdout) || 'no output'
    const how = r.code === null ? `killed by ${r.signal}` : `exit ${r.code}`
    if (LOGIN_FAILURE.test(r.stderr) || LOGIN_FAILURE.test(r.stdout)) {
      throw new PowerDeviceError(`${who}: login to the device failed (wrong username or password?) on ${action} (${how}): ${detail}`)
    }
    throw new PowerDeviceError(`${who}: ${action} failed (${how}): ${detail}`)
  }

  return {
    async powerOff(opts) {
      await run('off', opts)
    },
    async powerOn(opts) {
      await run('on', opts)
    },
    async status(opts): Promise<PowerStatus> {
      const r = await run('status', opts)
      return r.code === 0 ? 'on' : 'off'
    },
  }
}
