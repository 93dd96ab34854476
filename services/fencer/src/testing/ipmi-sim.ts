import { spawn, type ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A simulated BMC for tests: OpenIPMI's `ipmi_sim` (Debian package openipmi) on loopback,
 * one BMC at IPMB 0x20 with one administrator, reachable over IPMI 1.5 (`lan`, MD5) and
 * 2.0 (`lanplus`, cipher suites 0-6; give one, e.g. `-C 3`: ipmi_sim does not answer Get
 * Channel Cipher Suites, so ipmitool without -C waits 10 s before it falls back to suite 3).
 * Chassis power control goes
 * through ipmi_sim's `chassis_control` hook: a small shell script that keeps the power
 * state in a file and appends every power command it receives to an action file.
 */
export const IPMI_SIM = '/usr/bin/ipmi_sim'
export const IPMITOOL = '/usr/bin/ipmitool'

/**
 * How the simulated BMC behaves:
 * - `normal`: power commands switch the power state;
 * - `never-off`: a power-off command is accepted (and recorded) but the host stays on.
 * A BMC that does not answer at all is {@link IpmiSim.freeze}.
 */
export type IpmiSimMode = 'normal' | 'never-off'

export interface IpmiSimOptions {
  username?: string
  /** At most 16 characters: the limit of IPMI 1.5. */
  password?: string
  power?: 'on' | 'off'
  mode?: IpmiSimMode
  /** Deadline for the BMC to answer its first request. */
  startTimeoutMs?: number
}

export interface IpmiSim {
  readonly host: string
  readonly port: number
  readonly username: string
  readonly password: string
  readonly pid: number
  /** The temp directory with lan.conf, the command file, the hook and its state files. */
  readonly dir: string
  /** The power commands the BMC has received, in order: `off`, `on`, `reset`. */
  actions(): string[]
  clearActions(): void
  /** The simulated host's power, as the hook reports it to the BMC. */
  power(): 'on' | 'off'
  setPower(state: 'on' | 'off'): void
  setMode(mode: IpmiSimMode): void
  /** Stop the BMC process (SIGSTOP): it takes requests and never answers them. */
  freeze(): void
  /** Let a frozen BMC run again. */
  thaw(): void
  /** Back to a fresh BMC between tests: answering, normal mode, power on, no actions recorded. */
  reset(): void
  /** Whether the BMC answers a pre-session request within `timeoutMs`. */
  answers(timeoutMs?: number): Promise<boolean>
  /** Kill ipmi_sim and remove the temp directory. */
  stop(): Promise<void>
}

export const ipmiSimAvailable = (): boolean => [IPMI_SIM, IPMITOOL].every(isExecutable)

const isExecutable = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** ipmi_sim calls `<hook> <mc> get power` and `<hook> <mc> set power 0|1`. */
const hookScript = (dir: string): string => `#!/bin/sh
# ipmi_sim chassis_control hook: <hook> <mc> get <parm>... | <hook> <mc> set <parm> <value>...
dir='${dir}'
shift
op=$1
shift
case "$op" in
  get)
    for parm in "$@"; do
      case "$parm" in
        power) echo "power:$(cat "$dir/power")" ;;
        boot) echo "boot:default" ;;
        *) echo "unsupported parameter $parm"; exit 1 ;;
      esac
    done
    ;;
  set)
    while [ $# -ge 2 ]; do
      parm=$1
      value=$2
      shift 2
      case "$parm" in
        power)
          if [ "$value" = 1 ]; then
            echo on >> "$dir/actions"
            echo 1 > "$dir/power"
          else
            echo off >> "$dir/actions"
            [ "$(cat "$dir/mode")" = never-off ] || echo 0 > "$dir/power"
          fi
          ;;
        reset) echo reset >> "$dir/actions" ;;
        boot) ;;
        *) echo "unsupported parameter $parm"; exit 1 ;;
      esac
    done
    ;;
  *) echo "unsupported operation $op"; exit 1 ;;
esac
`

const lanConf = (dir: string, port: number, username: string, password: string): string => `# generated for one test BMC on loopback
name "lazarus-test-bmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${port}
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "${join(dir, 'chassis-control.sh')} 0x20"
  user 2 true "${username}" "${password}" admin 10 md5
`

const EMULATOR_COMMANDS = `# one BMC, no sensors
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
mc_enable 0x20
`

/** IPMI 1.5 Get Channel Authentication Capabilities (channel: current, level: admin); answered before any login. */
const AUTH_CAPABILITIES_REQUEST = Buffer.from('0600ff07' + '00' + '00000000' + '00000000' + '09' + '2018c8' + '810038' + '0e04' + '35', 'hex')

/** Ask the BMC something that needs no session, and wait for any answer. */
export const bmcAnswers = (host: string, port: number, timeoutMs = 500): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createSocket('udp4')
    let done = false
    const end = (answered: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.close()
      resolve(answered)
    }
    const timer = setTimeout(() => end(false), timeoutMs)
    socket.on('message', () => end(true))
    socket.on('error', () => end(false))
    socket.send(AUTH_CAPABILITIES_REQUEST, port, host)
  })

/** A UDP port on loopback that nothing is bound to right now (the kernel picks it). */
export const freeUdpPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const socket = createSocket('udp4')
    socket.on('error', reject)
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address()
      socket.close(() => resolve(port))
    })
  })

const running = new Set<ChildProcess>()
let exitHookInstalled = false
/** Should a test run end without stop(), take the simulators with it. */
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const child of running) killGroup(child, 'SIGKILL')
  })
}

const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** Start one simulated BMC; retried on another port if the first cannot be used. */
export const startIpmiSim = async (opts: IpmiSimOptions = {}): Promise<IpmiSim> => {
  if (!ipmiSimAvailable()) throw new Error(`${IPMI_SIM} or ${IPMITOOL} is missing: install the Debian packages openipmi and ipmitool`)
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts)
    } catch (err) {
      lastError = err
    }
  }
  throw lastError
}

const startOnce = async (opts: IpmiSimOptions): Promise<IpmiSim> => {
  const username = opts.username ?? 'admin'
  const password = opts.password ?? 'lazarus-pw'
  if (password.length > 16) throw new Error('ipmi_sim test password: at most 16 characters')
  const host = '127.0.0.1'
  const dir = mkdtempSync(join(tmpdir(), 'lazarus-ipmi-sim-'))
  const file = (name: string) => join(dir, name)
  const port = await freeUdpPort()

  writeFileSync(file('power'), opts.power === 'off' ? '0\n' : '1\n')
  writeFileSync(file('mode'), `${opts.mode ?? 'normal'}\n`)
  writeFileSync(file('actions'), '')
  writeFileSync(file('chassis-control.sh'), hookScript(dir))
  chmodSync(file('chassis-control.sh'), 0o755)
  writeFileSync(file('lan.conf'), lanConf(dir, port, username, password))
  writeFileSync(file('bmc.emu'), EMULATOR_COMMANDS)
  mkdirSync(file('state'))

  const child = spawn(IPMI_SIM, ['-c', file('lan.conf'), '-f', file('bmc.emu'), '-s', file('state'), '-n'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own group: stop() also takes the hook scripts it runs
  })
  running.add(child)
  installExitHook()
  let output = ''
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()))
  let exited = false
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      running.delete(child)
      resolve()
    })
    child.once('error', (err) => {
      output += String(err)
      exited = true
      running.delete(child)
      resolve()
    })
  })

  let frozen = false
  const stop = async () => {
    if (!exited) {
      killGroup(child, 'SIGCONT') // a stopped process would hold its SIGTERM
      killGroup(child, 'SIGTERM')
      const killer = setTimeout(() => killGroup(child, 'SIGKILL'), 2_000)
      await exit
      clearTimeout(killer)
    }
    killGroup(child, 'SIGKILL') // any hook script still running
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000)
  while (!(await bmcAnswers(host, port, 300))) {
    if (exited || Date.now() > deadline) {
      await stop()
      throw new Error(`ipmi_sim on ${host}:${port} did not start${exited ? ' (exited)' : ''}: ${output.trim() || 'no output'}`)
    }
  }

  const sim: IpmiSim = {
    host,
    port,
    username,
    password,
    pid: child.pid ?? -1,
    dir,
    actions: () =>
      readFileSync(file('actions'), 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
    clearActions: () => writeFileSync(file('actions'), ''),
    power: () => (readFileSync(file('power'), 'utf8').trim() === '0' ? 'off' : 'on'),
    setPower: (state) => writeFileSync(file('power'), state === 'off' ? '0\n' : '1\n'),
    setMode: (mode) => writeFileSync(file('mode'), `${mode}\n`),
    freeze: () => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGSTOP')
      frozen = true
    },
    thaw: () => {
      if (frozen && child.pid !== undefined) process.kill(child.pid, 'SIGCONT')
      frozen = false
    },
    answers: (timeoutMs) => bmcAnswers(host, port, timeoutMs),
    reset: () => {
      sim.thaw()
      sim.setMode('normal')
      sim.setPower('on')
      sim.clearActions()
    },
    stop,
  }
  return sim
}
