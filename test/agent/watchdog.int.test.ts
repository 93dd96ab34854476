import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/*
 * Self-fencing by watchdog: the built agent, run as a child process, arms
 * WATCHDOG_DEVICE, here a regular file standing for the device (every keepalive byte and the
 * magic close `V` written to it can be read back). Its control plane is a real nats-server
 * this test starts and stops (its own port); its one peer is a TCP listener of this test,
 * probed with refusedIsReachable false so that a closed listener counts as a lost peer.
 * Needs `pnpm run build`.
 */

const NATS_SERVER = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server'
const run = randomBytes(3).toString('hex')
const hostName = `watchdog-${run}`
const ISOLATION_TIMEOUT_MS = 2000
const KEEPALIVE = 0
const MAGIC_CLOSE = 'V'.charCodeAt(0)

let dir: string
let natsPort: number
let nats: ChildProcess | undefined
let natsLog = ''
let peer: Server | undefined
let peerPort: number
const agents: RunningProcess[] = []

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const listening = (port: number) =>
  new Promise<boolean>((r) => {
    const c = tcpConnect({ host: '127.0.0.1', port }, () => (c.destroy(), r(true)))
    c.once('error', () => r(false))
  })

const startNats = async () => {
  nats = spawn(NATS_SERVER, ['-c', join(dir, 'nats-server.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  nats.stdout!.on('data', (d: Buffer) => (natsLog += d.toString()))
  nats.stderr!.on('data', (d: Buffer) => (natsLog += d.toString()))
  await eventually(`nats-server on ${natsPort}\n${natsLog}`, async () => ((await listening(natsPort)) ? true : undefined), 10_000, 50)
}

const stopNats = async () => {
  const server = nats
  nats = undefined
  if (!server || server.exitCode !== null) return
  const exited = new Promise((r) => server.once('exit', r))
  server.kill('SIGTERM')
  await Promise.race([exited, sleep(5000)])
  if (server.exitCode === null && server.signalCode === null) {
    server.kill('SIGKILL')
    await exited
  }
}

const startPeer = () =>
  new Promise<void>((resolve) => {
    peer = createServer((socket) => socket.destroy())
    peer.listen(peerPort, '127.0.0.1', () => resolve())
  })

const stopPeer = () => new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()))

const startAgent = async (name: string, device: string, extra: Record<string, string> = {}): Promise<{ agent: RunningProcess; opsUrl: string }> => {
  const agent = startNode(name, 'services/agent/dist/main.js', {
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    HOST_NAME: hostName,
    HEARTBEAT_INTERVAL_MS: '200',
    PROCESS_NAMES: 'node',
    PEERS: `peer-${run}=127.0.0.1:${peerPort}`,
    PROBES: JSON.stringify({ refusedIsReachable: false }),
    WATCHDOG_DEVICE: device,
    WATCHDOG_ISOLATION_TIMEOUT_MS: String(ISOLATION_TIMEOUT_MS),
    WATCHDOG_FEED_INTERVAL_MS: '100',
    OPS_PORT: '0',
    OPS_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...extra,
  })
  agents.push(agent)
  const up = await agent.waitForLine(/"opsPort":\d+/, 30_000)
  return { agent, opsUrl: `http://127.0.0.1:${(JSON.parse(up) as { opsPort: number }).opsPort}` }
}

const metric = async (opsUrl: string, name: string): Promise<number | undefined> => {
  const text = await (await fetch(`${opsUrl}/metrics`)).text()
  const m = new RegExp(`^${name}\\{service="agent"\\} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : undefined
}

const written = async (device: string) => readFile(device)
const keepalives = async (device: string) => (await written(device)).filter((b) => b === KEEPALIVE).length

/** Wait until `n` more keepalives than `from` were written. */
const moreKeepalives = (device: string, from: number, n: number) =>
  eventually(`${n} keepalives after ${from}`, async () => ((await keepalives(device)) >= from + n ? true : undefined), 20_000, 50)

const deviceFile = async (name: string) => {
  const path = join(dir, name)
  await writeFile(path, '')
  return path
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazarus-watchdog-'))
  natsPort = await freePort()
  peerPort = await freePort()
  await writeFile(join(dir, 'nats-server.conf'), `listen: "127.0.0.1:${natsPort}"\n`)
  await startNats()
  await startPeer()
})

afterAll(async () => {
  for (const a of agents) await a.stop('SIGKILL')
  await stopNats()
  await stopPeer()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('agent self-fencing by watchdog', () => {
  let device: string
  let agent: RunningProcess
  let opsUrl: string

  it('feeds the device while connected to NATS', async () => {
    device = await deviceFile('isolated-host')
    ;({ agent, opsUrl } = await startAgent('agent-isolated', device))
    await agent.waitForLine(/"msg":"watchdog armed"/)
    await moreKeepalives(device, 0, 10)
    expect(await metric(opsUrl, 'lazarus_agent_watchdog_fed')).toBe(1)
    expect(await metric(opsUrl, 'lazarus_agent_watchdog_last_fed_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60)
    expect((await written(device)).includes(MAGIC_CLOSE)).toBe(false)
  })

  it('still feeds it while NATS is down but a peer answers, past the isolation timeout', async () => {
    await stopNats()
    await agent.waitForLine(/"status":"disconnect"/)
    // The control plane is lost past the isolation timeout: the agent says the peer keeps it fed.
    await agent.waitForLine(/"reason":"peers-reachable"/, 20_000)
    await moreKeepalives(device, await keepalives(device), 10)
    expect(await metric(opsUrl, 'lazarus_agent_watchdog_fed')).toBe(1)
  })

  it('stops feeding it once NATS and every peer are gone past the timeout, and does not feed again when NATS is back', async () => {
    await stopPeer()
    const line = await agent.waitForLine(/STARVING THE WATCHDOG/, 20_000)
    expect(JSON.parse(line)).toMatchObject({ level: 50, reason: 'isolated', isolationTimeoutMs: ISOLATION_TIMEOUT_MS })
    expect(await metric(opsUrl, 'lazarus_agent_watchdog_fed')).toBe(0)
    const starvedAt = (await written(device)).length
    // Ten more heartbeats dropped (2 s, twenty feed intervals): nothing written meanwhile.
    const dropped = (await metric(opsUrl, 'lazarus_agent_heartbeats_dropped_total')) ?? 0
    await eventually(
      'ten more heartbeats dropped',
      async () => (((await metric(opsUrl, 'lazarus_agent_heartbeats_dropped_total')) ?? 0) >= dropped + 10 ? true : undefined),
      20_000,
    )
    expect((await written(device)).length).toBe(starvedAt)

    // NATS back: heartbeats flow again, the watchdog stays starved (the host is already condemned).
    await startNats()
    await agent.waitForLine(/"status":"reconnect"/, 20_000)
    const sent = (await metric(opsUrl, 'lazarus_agent_heartbeats_sent_total')) ?? 0
    await eventually('five more heartbeats sent', async () => (((await metric(opsUrl, 'lazarus_agent_heartbeats_sent_total')) ?? 0) >= sent + 5 ? true : undefined), 20_000)
    expect((await written(device)).length).toBe(starvedAt)
    expect(await metric(opsUrl, 'lazarus_agent_watchdog_fed')).toBe(0)
  })

  it('a SIGTERM while starving closes the device without V: the host still reboots', async () => {
    const before = (await written(device)).length
    expect(await agent.stop('SIGTERM')).toBe(0)
    expect(agent.lines.some((l) => l.includes('stopping while starving the watchdog'))).toBe(true)
    expect((await written(device)).length).toBe(before)
    expect((await written(device)).includes(MAGIC_CLOSE)).toBe(false)
  })

  it('a clean SIGTERM writes the magic V last', async () => {
    await startPeer()
    const clean = await deviceFile('clean-stop')
    const started = await startAgent('agent-clean', clean)
    await moreKeepalives(clean, 0, 5)
    expect(await started.agent.stop('SIGTERM')).toBe(0)
    const bytes = await written(clean)
    expect(bytes.at(-1)).toBe(MAGIC_CLOSE)
    expect(bytes.subarray(0, -1).every((b) => b === KEEPALIVE)).toBe(true)
    expect(started.agent.lines.some((l) => l.includes('watchdog disarmed (magic close written)'))).toBe(true)
  })

  it('stops feeding it when heartbeats no longer get through a connection that still looks up (a partition: no FIN, no RST)', async () => {
    // A TCP relay between the agent and nats-server that, once cut, silently drops every byte.
    let cut = false
    const sockets = new Set<Socket>()
    const relay = createServer((client) => {
      const upstream = tcpConnect({ host: '127.0.0.1', port: natsPort })
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('error', () => undefined)
        s.on('close', () => sockets.delete(s))
      }
      client.on('data', (d) => cut || upstream.write(d))
      upstream.on('data', (d) => cut || client.write(d))
    })
    const relayPort = await new Promise<number>((r) => relay.listen(0, '127.0.0.1', () => r((relay.address() as { port: number }).port)))
    try {
      const partitioned = await deviceFile('partitioned')
      const started = await startAgent('agent-partitioned', partitioned, { NATS_URL: `nats://127.0.0.1:${relayPort}` })
      await moreKeepalives(partitioned, 0, 5)
      // Peers gone first: the control plane alone keeps it fed.
      await stopPeer()
      await moreKeepalives(partitioned, await keepalives(partitioned), 5)
      cut = true
      const line = await started.agent.waitForLine(/STARVING THE WATCHDOG/, 20_000)
      expect(JSON.parse(line)).toMatchObject({ reason: 'isolated' })
      // NATS never said the connection dropped: heartbeats were still handed to it.
      expect(started.agent.lines.some((l) => l.includes('"status":"disconnect"'))).toBe(false)
      expect(await metric(started.opsUrl, 'lazarus_agent_nats_connected')).toBe(1)
      expect(await metric(started.opsUrl, 'lazarus_agent_watchdog_fed')).toBe(0)
      await started.agent.stop('SIGKILL')
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((r) => relay.close(r))
    }
  })

  it('refuses to start when the device cannot be opened, naming it', async () => {
    const missing = join(dir, 'no-watchdog-here')
    const agentProc = startNode('agent-no-device', 'services/agent/dist/main.js', {
      NATS_URL: `nats://127.0.0.1:${natsPort}`,
      HOST_NAME: hostName,
      PROCESS_NAMES: 'node',
      WATCHDOG_DEVICE: missing,
    })
    agents.push(agentProc)
    const code = await new Promise<number | null>((r) => agentProc.child.once('exit', (c) => r(c)))
    expect(code).toBe(1)
    expect(agentProc.lines.join('\n')).toContain(`cannot open the watchdog device WATCHDOG_DEVICE=${missing}: `)
  })
})
