import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startNode, type RunningProcess } from '../support/processes.js'

/**
 * A lazarus-agent (the built `services/agent/dist/main.js`) for each compute host of the box,
 * with that host's identity, heartbeating on NATS. Each one is registered as a companion of its
 * host's nova-compute (`/tmp/osbox/companions/HOST/lazarus-agent.pid`), so `compute.sh kill HOST`
 * kills both at once, as a power loss does. A killed agent is started again by `ensure`.
 */
export interface BoxAgents {
  /** Start the host's agent unless it runs; resolves once it heartbeats. */
  ensure(host: string): Promise<void>
  running(host: string): boolean
  stop(): Promise<void>
}

export interface BoxAgentsOptions {
  natsUrl: string
  subjectPrefix: string
  intervalMs: number
  /** The box's run directory (OSBOX_RUN, default /tmp/osbox). */
  runDir?: string
}

/** Make `pid` a companion of the box's `host`: `compute.sh kill host` kills it too. Returns the pid file. */
export const registerCompanion = (host: string, name: string, pid: number, runDir = process.env['OSBOX_RUN'] ?? '/tmp/osbox'): string => {
  mkdirSync(join(runDir, 'companions', host), { recursive: true })
  const file = join(runDir, 'companions', host, `${name}.pid`)
  writeFileSync(file, `${pid}\n`)
  return file
}

export const startBoxAgents = async (hosts: readonly string[], o: BoxAgentsOptions): Promise<BoxAgents> => {
  const pidFiles = new Map<string, string>()
  const agents = new Map<string, RunningProcess>()
  const running = (host: string) => {
    const a = agents.get(host)
    return a !== undefined && a.child.exitCode === null && a.child.signalCode === null
  }
  const ensure = async (host: string) => {
    if (running(host)) return
    const a = startNode(`agent-${host}`, 'services/agent/dist/main.js', {
      NATS_URL: o.natsUrl,
      HOST_NAME: host,
      SUBJECT_PREFIX: o.subjectPrefix,
      HEARTBEAT_INTERVAL_MS: String(o.intervalMs),
      // The box's computes run no libvirtd: no process probes, the heartbeat alone.
      PROBES: JSON.stringify({ processes: [] }),
      LOG_LEVEL: 'info',
    })
    agents.set(host, a)
    pidFiles.set(host, registerCompanion(host, 'lazarus-agent', a.child.pid!, o.runDir))
    await a.waitForLine(/agent heartbeating/, 20_000)
  }
  const stop = async () => {
    for (const f of pidFiles.values()) rmSync(f, { force: true })
    await Promise.all([...agents.values()].map((a) => a.stop()))
  }
  try {
    await Promise.all(hosts.map(ensure))
  } catch (err) {
    await stop()
    throw err
  }
  return { ensure, running, stop }
}
