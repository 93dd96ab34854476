import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer, connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HeartbeatV1 } from '@lazarus/contracts'
import { runCli } from '@lazarus/cli'
import { createHeartbeatMonitor, createKvLeases, leaseKey, type Verdict } from '@lazarus/detector'
import { natsConnectOptions } from '@lazarus/runtime'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { createIngestMetrics } from '@lazarus/ingest-mapping'
import { Registry } from '@lazarus/runtime'
// The ingest service's NATS source itself (the service runs it from main.ts), with a stand-in
// for its pipeline: what is under test here is what its identity may do on NATS.
import { startNatsSource } from '../../services/ingest/src/sources/nats.js'
import { startNode, type RunningProcess } from '../support/processes.js'

/*
 * NATS identities (issue #18): `lazarus nats-config` generates the server's authorization,
 * a real nats-server (/usr/sbin/nats-server, its own port and JetStream store) runs with
 * it, and the parts connect with their generated nkey seeds. Needs `pnpm run build` (the
 * agent runs as its built process).
 */

const NATS_SERVER = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server'
const INTERVAL = 250
const TIMEOUT = 3 * INTERVAL + 500
const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const id = randomUUID().slice(0, 8)
const [hostA, hostB] = [`ident-${id}-a`, `ident-${id}.rack-2.example`]
const BUCKET = `leases_${id}`
const STREAM = `FAULTS_${id}`
const DEAD = `faults.${id}.dead-letter`

let dir: string
let url: string
let server: ChildProcess
let serverLog = ''
const open: NatsConnection[] = []

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const listening = async (port: number, timeoutMs: number) => {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const c = tcpConnect({ host: '127.0.0.1', port }, () => (c.destroy(), r(true)))
      c.once('error', () => r(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms:\n${serverLog}`)
}

const seed = (name: string) => join(dir, 'out', name)
const as = async (seedFile: string, name: string) => {
  const nc = await connect({ ...natsConnectOptions({ natsNkeySeedFile: seedFile }).options, servers: url, name, maxReconnectAttempts: 0 })
  open.push(nc)
  return nc
}

/** Errors the server reported to this connection (permission violations arrive asynchronously). */
const errorsOf = (nc: NatsConnection) => {
  const errors: string[] = []
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: unknown }).error))
  })().catch(() => undefined)
  return errors
}

const waitFor = async <T>(what: string, f: () => T | undefined, timeoutMs: number): Promise<T> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

const heartbeat = (host: string, over: Partial<HeartbeatV1> = {}): HeartbeatV1 => ({
  v: 1,
  host,
  bootId: randomUUID(),
  startedAt: Date.now() - 1000,
  seq: 0,
  sentAt: Date.now(),
  intervalMs: INTERVAL,
  probes: { processes: [], management: [], storage: [], storageHeartbeat: null, peers: [] },
  ...over,
})

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazarus-nats-ident-'))
  await writeFile(join(dir, 'hosts'), `# the rack\n${hostA}\n\n${hostB}  # an FQDN\n`)
  const out: string[] = []
  const err: string[] = []
  const code = await runCli({
    argv: [
      'nats-config',
      '--out',
      join(dir, 'out'),
      '--hosts-file',
      join(dir, 'hosts'),
      '--lease-bucket',
      BUCKET,
      '--ingest-stream',
      STREAM,
      '--ingest-dead-letter-subject',
      DEAD,
      '--admin',
    ],
    env: {},
    io: { out: (t) => out.push(t), write: (t) => out.push(t), err: (t) => err.push(t), tty: false },
  })
  expect(code, err.join('\n')).toBe(0)

  const port = await freePort()
  url = `nats://127.0.0.1:${port}`
  await writeFile(
    join(dir, 'out', 'nats-server.conf'),
    [`listen: "127.0.0.1:${port}"`, `jetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }`, 'include lazarus-authorization.conf', ''].join('\n'),
  )
  server = spawn(NATS_SERVER, ['-c', join(dir, 'out', 'nats-server.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()))
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()))
  await listening(port, 10_000)
})

afterAll(async () => {
  for (const nc of open) await nc.close().catch(() => undefined)
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r))
    server.kill('SIGTERM')
    await Promise.race([exited, sleep(5000)])
    if (server.exitCode === null) server.kill('SIGKILL')
  }
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('lazarus nats-config', () => {
  it('writes one seed per identity, mode 0600, and refuses hostile host names', async () => {
    for (const f of [`agents/${hostA}.nk`, `agents/${hostB}.nk`, 'detector.nk']) {
      expect(((await stat(seed(f))).mode & 0o777).toString(8)).toBe('600')
      expect(await readFile(seed(f), 'utf8')).toMatch(/^SU[A-Z2-7]+\n$/)
    }
    expect(((await stat(join(dir, 'out'))).mode & 0o777).toString(8)).toBe('700')
    for (const bad of ['*', 'compute-1.>', 'a b', 'a..b', '.a', 'a"b', '>']) {
      const err: string[] = []
      const code = await runCli({
        argv: ['nats-config', '--out', join(dir, 'bad'), '--host', bad],
        env: {},
        io: { out: () => undefined, write: () => undefined, err: (t) => err.push(t), tty: false },
      })
      expect(code, bad).toBe(2)
      expect(err.join('\n')).toContain(JSON.stringify(bad))
    }
  })
})

describe('nats-server with the generated identities', () => {
  it('refuses an unauthenticated connection', async () => {
    await expect(connect({ servers: url, maxReconnectAttempts: 0, reconnect: false })).rejects.toThrow(/[Aa]uthorization/)
  })

  it("refuses an agent publishing on another host's subject, and delivers its own", async () => {
    const detector = await as(seed('detector.nk'), 'detector')
    const got: string[] = []
    const sub = detector.subscribe('lazarus.heartbeat.>', { callback: (_e, m) => got.push(m.subject) })
    await detector.flush()
    const agentB = await as(seed(`agents/${hostB}.nk`), 'agent b')
    const errors = errorsOf(agentB)
    agentB.publish(`lazarus.heartbeat.${hostA}`, JSON.stringify(heartbeat(hostA)))
    agentB.publish(`lazarus.heartbeat.${hostB}`, JSON.stringify(heartbeat(hostB)))
    await agentB.flush()
    await waitFor('the permissions violation', () => (errors.some((e) => /[Pp]ermissions [Vv]iolation.*lazarus\.heartbeat\./.test(e)) ? true : undefined), 5000)
    await detector.flush()
    await sleep(200)
    expect(got).toEqual([`lazarus.heartbeat.${hostB}`])
    // Nor may an agent read the others' heartbeats.
    const peek = agentB.subscribe('lazarus.heartbeat.>')
    await waitFor('the subscribe violation', () => (errors.some((e) => /[Pp]ermissions [Vv]iolation.*[Ss]ubscription/.test(e)) ? true : undefined), 5000)
    peek.unsubscribe()
    sub.unsubscribe()
  })

  it('an agent and the detector work end to end with their identities; an outsider cannot make the host look dead', async () => {
    const detector = await as(seed('detector.nk'), 'detector')
    const verdicts: Verdict[] = []
    const monitor = await createHeartbeatMonitor({
      nc: detector,
      intervalMs: INTERVAL,
      sweepMs: 50,
      segments: [{ id: 's', hosts: [hostA, hostB], policy: { maxFailedFraction: 1 } }],
      log,
      onVerdict: (v) => verdicts.push(v),
    })
    // The detector's leases: a JetStream KV bucket, within its permissions.
    const leases = await createKvLeases({ nc: detector, bucket: BUCKET, ttlMs: 60_000, staleMs: 5000, holder: 'replica-1' })
    const key = leaseKey('fence', hostA, '1')
    expect(await leases.claim(key)).toBe(true)
    expect(await leases.claim(key)).toBe(false)
    await leases.complete(key)
    expect(await leases.get(key)).toMatchObject({ holder: 'replica-1', state: 'done' })
    await leases.release(key)
    expect(await leases.get(key)).toBeUndefined()
    // Another replica (or a restart with another LEASE_TTL_MS) opens the existing bucket.
    const again = await createKvLeases({ nc: detector, bucket: BUCKET, ttlMs: 120_000, staleMs: 5000, holder: 'replica-2' })
    expect(await again.claim(key)).toBe(true)
    // Replicas share monitor reports on host-down subjects.
    const downs: string[] = []
    const downSub = detector.subscribe('lazarus.detector.host-down.>', { callback: (_e, m) => downs.push(m.subject) })
    detector.publish(`lazarus.detector.host-down.${hostA}`)
    await waitFor('host-down shared', () => (downs.length === 1 ? true : undefined), 3000)
    downSub.unsubscribe()

    // The real agent, as its built process, with its own seed.
    let agent: RunningProcess | undefined
    try {
      agent = startNode('agent', 'services/agent/dist/main.js', {
        NATS_URL: url,
        NATS_NKEY_SEED_FILE: seed(`agents/${hostA}.nk`),
        HOST_NAME: hostA,
        HEARTBEAT_INTERVAL_MS: String(INTERVAL),
        PROCESS_NAMES: '',
        LOG_LEVEL: 'info',
      })
      await agent.waitForLine(/"auth":"nkey"/, 10_000)
      await waitFor('the agent heard', () => (monitor.tracker.status(hostA)?.seen ? true : undefined), 10_000)
      // (A slow start may have drawn an `unconfirmed` before; what counts is from now on.)
      await sleep(INTERVAL)
      const heardFrom = verdicts.length

      // The outsider: another host's agent identity, forging heartbeats for host A in a loop
      // (on A's subject, refused by the server; on its own subject naming A, refused by the
      // detector), and an anonymous client that cannot even connect.
      const outsider = await as(seed(`agents/${hostB}.nk`), 'outsider')
      const outsiderErrors = errorsOf(outsider)
      await expect(connect({ servers: url, maxReconnectAttempts: 0, reconnect: false })).rejects.toThrow(/[Aa]uthorization/)
      const end = Date.now() + 3 * TIMEOUT
      let forged = 0
      while (Date.now() < end) {
        const future = heartbeat(hostA, { startedAt: Date.now() + 365 * 86_400_000, sentAt: Date.now() + 365 * 86_400_000, seq: 1e12 })
        outsider.publish(`lazarus.heartbeat.${hostA}`, JSON.stringify(future))
        outsider.publish(`lazarus.heartbeat.${hostB}`, JSON.stringify(heartbeat(hostA, { startedAt: Date.now() })))
        forged++
        await sleep(20)
      }
      await outsider.flush().catch(() => undefined)
      expect(forged).toBeGreaterThan(50)
      expect(outsiderErrors.some((e) => /[Pp]ermissions [Vv]iolation/.test(e))).toBe(true)
      expect(verdicts.slice(heardFrom).filter((v) => v.host === hostA)).toEqual([])
      expect(monitor.tracker.status(hostA)).toMatchObject({ state: 'alive', seen: true })
      expect(monitor.stats().invalid).toBeGreaterThan(0) // the body naming host A on B's subject

      // And once the agent is gone, its host is declared failed: deaths are still seen.
      await agent.stop()
      await waitFor('failed', () => verdicts.find((v) => v.kind === 'failed' && v.host === hostA), TIMEOUT + 3000)
    } finally {
      await agent?.stop()
      await monitor.close()
    }
  })

  it('ingest consumes its stream, acknowledges and dead-letters with its identity, and may do nothing else', async () => {
    const admin = await as(seed('admin.nk'), 'admin')
    const jsm = await jetstreamManager(admin)
    await jsm.streams.add({ name: STREAM, subjects: [`faults.${id}.compute.>`] })
    // The dead-letter subject has a stream of its own, as the ingest README advises.
    await jsm.streams.add({ name: `${STREAM}_DEAD`, subjects: [DEAD] })
    const deadCount = async () => (await jsm.streams.info(`${STREAM}_DEAD`)).state.messages
    const js = jsm.jetstream()
    await js.publish(`faults.${id}.compute.a`, JSON.stringify({ type: 'host.down', host: hostA }))
    await js.publish(`faults.${id}.compute.b`, 'not an event')

    const seen: string[] = []
    let fatal: unknown
    const source = await startNatsSource({
      config: {
        servers: [url],
        stream: STREAM,
        subjects: [`faults.${id}.compute.>`],
        durable: 'lazarus-ingest',
        deadLetterSubject: DEAD,
        maxAckPending: 1,
        ackWaitMs: 30_000,
        retryMinMs: 100,
        retryMaxMs: 1000,
        connectOptions: natsConnectOptions({ natsNkeySeedFile: seed('ingest.nk') }).options,
      },
      pipeline: async (value) => {
        const text = new TextDecoder().decode(value ?? new Uint8Array())
        seen.push(text)
        return text.startsWith('{') ? { kind: 'ack', result: 'accepted' } : { kind: 'dead', stage: 'parse', reason: 'not JSON' }
      },
      metrics: createIngestMetrics(new Registry()),
      log,
      onFatal: (err) => (fatal = err),
    })
    try {
      await waitFor('both events handled', () => (seen.length === 2 ? true : undefined), 10_000)
      const end = Date.now() + 5000
      let info = await jsm.consumers.info(STREAM, 'lazarus-ingest')
      while ((info.num_ack_pending > 0 || info.num_pending > 0) && Date.now() < end) {
        await sleep(100)
        info = await jsm.consumers.info(STREAM, 'lazarus-ingest')
      }
      expect(info).toMatchObject({ num_ack_pending: 0, num_pending: 0 })
      expect(await deadCount()).toBe(1)
      const dl = await jsm.streams.getMessage(`${STREAM}_DEAD`, { seq: 1 })
      expect(dl?.header.get('Lazarus-Reason')).toBe('not JSON')
      expect(seen).toHaveLength(2)
      expect(fatal).toBeUndefined()
    } finally {
      await source.stop()
    }
    // Its identity reaches nothing else: not the heartbeats, not another stream.
    const ingest = await as(seed('ingest.nk'), 'ingest')
    const errors = errorsOf(ingest)
    ingest.publish(`lazarus.heartbeat.${hostA}`, JSON.stringify(heartbeat(hostA)))
    await ingest.flush()
    await waitFor('the permissions violation', () => (errors.some((e) => /[Pp]ermissions [Vv]iolation.*lazarus\.heartbeat\./.test(e)) ? true : undefined), 5000)
  })
})
