import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, parse } from 'node:path'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import { HeartbeatV1 } from '@lazarus/contracts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, pnpm, repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/*
 * The agent as it ships to a compute host: `pnpm run bundle:agent` makes one file; copied
 * alone into an empty directory (no node_modules there or in any directory above it) and
 * run with plain `node` and nothing inherited from this environment, it must heartbeat on
 * the real NATS and answer /healthz, /readyz and /metrics. A bundle that still imports a
 * package from node_modules fails to start here.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const run = randomBytes(3).toString('hex')
const hostName = `bundle-${run}`
const bundle = join(repoRoot, 'services/agent/dist-bundle/lazarus-agent.mjs')

let dir: string
let nc: NatsConnection
let sub: Subscription
const beats: HeartbeatV1[] = []
let agent: RunningProcess | undefined
let opsUrl: string

const noNodeModulesAbove = (from: string): string[] => {
  const found: string[] = []
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) found.push(join(d, 'node_modules'))
    if (d === parse(d).root) return found
  }
}

beforeAll(async () => {
  await promisify(execFile)(...pnpm('run', '--silent', 'bundle:agent'), { cwd: repoRoot })
  dir = await mkdtemp(join(tmpdir(), 'lazarus-agent-bundle-'))
  await copyFile(bundle, join(dir, 'lazarus-agent.mjs'))
  nc = await connect({ servers: NATS_URL })
  sub = nc.subscribe(`lazarus.heartbeat.${hostName}`)
  void (async () => {
    for await (const m of sub) beats.push(HeartbeatV1.parse(m.json()))
  })()
  await nc.flush()
}, 120_000)

afterAll(async () => {
  await agent?.stop()
  sub?.unsubscribe()
  await nc?.drain()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('lazarus-agent as one file', () => {
  it('is one file of less than 5 MB, alone in a directory with no node_modules above it', async () => {
    expect(await readdir(dir)).toEqual(['lazarus-agent.mjs'])
    expect(noNodeModulesAbove(dir)).toEqual([])
    expect((await stat(join(dir, 'lazarus-agent.mjs'))).size).toBeLessThan(5 * 1024 * 1024)
    // The bundled libraries' licence notices travel with it.
    const text = await readFile(join(dir, 'lazarus-agent.mjs'), 'utf8')
    expect(text).toContain('Bundled libraries and their licences')
    for (const name of ['@nats-io/nats-core', 'pino', 'prom-client', 'zod']) expect(text).toMatch(new RegExp(`^${name}@\\S+ \\(`, 'm'))
  })

  it('runs with only node: heartbeats arrive on NATS and the ops endpoint answers', async () => {
    agent = startNode(
      'agent-bundle',
      join(dir, 'lazarus-agent.mjs'),
      {
        NATS_URL,
        HOST_NAME: hostName,
        HEARTBEAT_INTERVAL_MS: '200',
        // Its own node process: a watched process that is surely running.
        PROCESS_NAMES: 'node',
        OPS_PORT: '0',
        OPS_HOST: '127.0.0.1',
      },
      { cwd: dir, bareEnv: true },
    )
    const up = await agent.waitForLine(/"opsPort":\d+/, 20_000)
    opsUrl = `http://127.0.0.1:${(JSON.parse(up) as { opsPort: number }).opsPort}`

    await eventually('three heartbeats on NATS', () => (beats.length >= 3 ? true : undefined), 20_000)
    const hb = beats.at(-1)!
    expect(hb.host).toBe(hostName)
    expect(hb.intervalMs).toBe(200)
    expect(hb.probes.processes).toEqual([expect.objectContaining({ name: 'node', ok: true })])
    expect(beats.map((b) => b.seq)).toEqual(beats.map((_, i) => beats[0]!.seq + i))

    const healthz = await fetch(`${opsUrl}/healthz`)
    expect(healthz.status).toBe(200)
    expect((await fetch(`${opsUrl}/readyz`)).status).toBe(200)
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text()
    const sent = Number(/^lazarus_agent_heartbeats_sent_total\{service="agent"\} (\d+)$/m.exec(metrics)?.[1])
    expect(sent).toBeGreaterThanOrEqual(3)
    expect(metrics).toMatch(/^lazarus_agent_publish_errors_total\{service="agent"\} 0$/m)
    expect(metrics).toMatch(/^lazarus_agent_nats_connected\{service="agent"\} 1$/m)
    expect(metrics).toMatch(/^lazarus_agent_probe_checks\{group="processes",ok="true",service="agent"\} 1$/m)
    expect(metrics).toMatch(/^lazarus_process_resident_memory_bytes\{service="agent"\} \d+/m)
  })

  it('stops on SIGTERM with exit code 0', async () => {
    expect(await agent!.stop('SIGTERM')).toBe(0)
    agent = undefined
  })
})
