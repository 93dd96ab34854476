import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli } from '@lazarus/cli'
import { natsConnectOptions } from '@lazarus/runtime'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode, type RunningProcess } from '../support/processes.js'

/*
 * NATS over TLS with client certificates and the generated identities: a real
 * nats-server (its own port) with a CA, a server and a client certificate made by
 * openssl here; the agent (its built process) connects with NATS_TLS_* and its seed.
 * Needs `pnpm run build`.
 */

const NATS_SERVER = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const host = `tls-${randomUUID().slice(0, 8)}`

let dir: string
let url: string
let server: ChildProcess
let serverLog = ''
const open: NatsConnection[] = []

const openssl = (...args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`)
}

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

const f = (name: string) => join(dir, name)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lazarus-nats-tls-'))
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=lazarus test CA', '-keyout', 'ca.key', '-out', 'ca.pem')
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr')
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.pem')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${host}`, '-keyout', 'client.key', '-out', 'client.csr')
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'client.pem')
  // Another CA: the client must refuse a server it cannot verify.
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other CA', '-keyout', 'other.key', '-out', 'other.pem')

  const code = await runCli({
    argv: ['nats-config', '--out', f('out'), '--host', host],
    env: {},
    io: { out: () => undefined, write: () => undefined, err: (t) => process.stderr.write(`${t}\n`), tty: false },
  })
  expect(code).toBe(0)
  const port = await freePort()
  url = `tls://127.0.0.1:${port}`
  await writeFile(
    f('out/nats-server.conf'),
    [
      `listen: "127.0.0.1:${port}"`,
      `tls { cert_file: ${JSON.stringify(f('server.pem'))}, key_file: ${JSON.stringify(f('server.key'))}, ca_file: ${JSON.stringify(f('ca.pem'))}, verify: true }`,
      'include lazarus-authorization.conf',
      '',
    ].join('\n'),
  )
  server = spawn(NATS_SERVER, ['-c', f('out/nats-server.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
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

type TlsFiles = { natsTlsCaFile: string; natsTlsCertFile: string; natsTlsKeyFile: string }
const withTls = (over: Partial<TlsFiles> = {}): TlsFiles => ({ natsTlsCaFile: f('ca.pem'), natsTlsCertFile: f('client.pem'), natsTlsKeyFile: f('client.key'), ...over })

describe('NATS over TLS with client certificates', () => {
  it('connects with the CA, a client certificate and an identity; refuses without the certificate, or against an unknown CA', async () => {
    const ok = await connect({ ...natsConnectOptions({ ...withTls(), natsNkeySeedFile: f('out/detector.nk') }).options, servers: url, reconnect: false })
    open.push(ok)
    expect(ok.info?.tls_required ?? ok.info?.tls_verify).toBeTruthy()

    await expect(
      connect({ ...natsConnectOptions({ natsTlsCaFile: f('ca.pem'), natsNkeySeedFile: f('out/detector.nk') }).options, servers: url, reconnect: false, maxReconnectAttempts: 0 }),
    ).rejects.toThrow()
    await expect(
      connect({
        ...natsConnectOptions({ ...withTls({ natsTlsCaFile: f('other.pem') }), natsNkeySeedFile: f('out/detector.nk') }).options,
        servers: url,
        reconnect: false,
        maxReconnectAttempts: 0,
      }),
    ).rejects.toThrow()
  })

  it('the agent process heartbeats over TLS with its identity', async () => {
    const detector = await connect({ ...natsConnectOptions({ ...withTls(), natsNkeySeedFile: f('out/detector.nk') }).options, servers: url })
    open.push(detector)
    const got: string[] = []
    detector.subscribe('lazarus.heartbeat.>', { callback: (_e, m) => got.push(m.subject) })
    await detector.flush()
    let agent: RunningProcess | undefined
    try {
      agent = startNode('agent', 'services/agent/dist/main.js', {
        NATS_URL: url,
        NATS_NKEY_SEED_FILE: f(`out/agents/${host}.nk`),
        NATS_TLS_CA_FILE: f('ca.pem'),
        NATS_TLS_CERT_FILE: f('client.pem'),
        NATS_TLS_KEY_FILE: f('client.key'),
        HOST_NAME: host,
        HEARTBEAT_INTERVAL_MS: '200',
        PROCESS_NAMES: '',
      })
      await agent.waitForLine(/"auth":"nkey","tls":true/, 10_000)
      const end = Date.now() + 10_000
      while (got.length < 3 && Date.now() < end) await sleep(50)
      expect(got.slice(0, 3)).toEqual([`lazarus.heartbeat.${host}`, `lazarus.heartbeat.${host}`, `lazarus.heartbeat.${host}`])
    } finally {
      await agent?.stop()
    }
  })
})
