import { spawn } from 'node:child_process'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startNode, type RunningProcess } from '../support/processes.js'

/**
 * A real Kafka-protocol broker on loopback: librdkafka's mock cluster, started by
 * `kcat` (Debian package kcat). It lives as long as the kcat process.
 */
export const startKafkaMock = async (): Promise<{ brokers: string; stop(): Promise<void> }> => {
  const child = spawn('kcat', ['-b', 'localhost:9092', '-C', '-t', 'lazarus-mock-boot', '-X', 'test.mock.num.brokers=1', '-d', 'mock', '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  let seen = ''
  const brokers = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kcat printed no bootstrap.servers: ${seen.slice(-500)}`)), 15_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`cannot start kcat (apt-get install -y kcat): ${err.message}`))
    })
    child.stderr.on('data', (d: Buffer) => {
      if (seen.length < 10_000) seen += d.toString()
      const m = /bootstrap\.servers=(127\.0\.0\.1:\d+)/.exec(seen)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
  })
  // Keep draining its debug log so that it never blocks on a full pipe.
  child.stderr.resume()
  return {
    brokers,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

export type ProxyMode = 'pass' | 'down' | 'hold'

/**
 * An HTTP proxy in front of the api that the test steers: `pass` forwards, `down`
 * answers 503 without forwarding, `hold` forwards and never returns the answer (the api
 * has persisted, the caller does not know).
 */
export const startApiProxy = async (target: string) => {
  let mode: ProxyMode = 'pass'
  const stats = { requests: 0, refused: 0, held: 0, heldAnswered: 0, passed: 0 }
  const held: ServerResponse[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    stats.requests += 1
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const m = mode
      if (m === 'down') {
        stats.refused += 1
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"serviceUnavailable":{"code":503,"message":"down for the test"}}')
        return
      }
      if (m === 'hold') {
        stats.held += 1
        held.push(res)
      }
      const url = new URL(req.url ?? '/', target)
      const up = httpRequest(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (upRes) => {
        const body: Buffer[] = []
        upRes.on('data', (c: Buffer) => body.push(c))
        upRes.on('end', () => {
          if (m === 'hold') {
            stats.heldAnswered += 1
            return
          }
          stats.passed += 1
          res.writeHead(upRes.statusCode ?? 502, upRes.headers).end(Buffer.concat(body))
        })
      })
      up.on('error', (err) => {
        if (m !== 'hold') res.writeHead(502).end(String(err))
      })
      up.end(Buffer.concat(chunks))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    setMode(m: ProxyMode) {
      mode = m
    },
    async close() {
      for (const r of held) r.destroy()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/** The ingest service as its own process (`services/ingest/dist/main.js`). */
export const startIngest = (name: string, env: Record<string, string>): RunningProcess =>
  startNode(name, 'services/ingest/dist/main.js', { OPS_PORT: '0', LOG_LEVEL: 'info', RETRY_MIN_MS: '200', RETRY_MAX_MS: '1000', ...env })

/** The ops port the ingest process logged at start. */
export const opsPortOf = async (p: RunningProcess): Promise<number> => Number(/"opsPort":(\d+)/.exec(await p.waitForLine(/"msg":"ingest started"/, 60_000))?.[1])

export const metricsOf = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()

export const metricValue = (text: string, name: string, labels: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels))
  return line ? Number(line.split(' ').pop()) : 0
}

export interface SimServer {
  id: string
  name: string
  host: string
  status: string
  taskState: string | null
}
export interface NotificationRow {
  hostname: string
  notification_uuid: string
  status: string
  type: string
  source_host_uuid: string
  payload: Record<string, string>
  generated_time: string
  message: string | null
}
