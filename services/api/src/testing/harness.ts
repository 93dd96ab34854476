import { createInProcessBus, type Bus } from '@lazarus/bus'
import { openDb, type Db } from '@lazarus/db'
import { createLogger, Registry } from '@lazarus/runtime'
import { randomBytes } from 'node:crypto'
import { createApiService, type ApiConfig, type ApiService, type ComputeHostDirectory, type InventorySource } from '../index.js'

/** The PostgreSQL the tests use (trust auth); each harness gets a schema of its own. */
export const TEST_PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

export type Engine = 'pglite' | 'postgres'

export interface Harness {
  api: ApiService
  db: Db
  bus: Bus
  metrics: Registry
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>
  close(): Promise<void>
}

/** A database of its own: PGlite in memory, or a fresh schema in the test PostgreSQL. */
export const openTestDb = async (engine: Engine): Promise<{ db: Db; drop(): Promise<void> }> => {
  if (engine === 'pglite') {
    const db = await openDb(undefined)
    return { db, drop: () => db.close() }
  }
  const schema = `api_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = await openDb(TEST_PG_URL)
  await admin.query(`CREATE SCHEMA ${schema}`)
  const db = await openDb(`${TEST_PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`)
  return {
    db,
    async drop() {
      await db.close()
      await admin.query(`DROP SCHEMA ${schema} CASCADE`)
      await admin.close()
    },
  }
}

/** The api service on a real database and the in-process bus, served in-process. */
export const startHarness = async (
  opts: { engine?: Engine; config?: Partial<ApiConfig>; bus?: Bus; now?: () => Date; computeHosts?: ComputeHostDirectory; inventory?: InventorySource } = {},
): Promise<Harness> => {
  const { db, drop } = await openTestDb(opts.engine ?? 'pglite')
  const bus = opts.bus ?? createInProcessBus()
  const metrics = new Registry()
  const api = await createApiService({
    db,
    bus,
    metrics,
    log: createLogger('api', process.env['LOG_LEVEL'] ?? 'silent'),
    // Tests of auth pass API keys or Keystone; the others run with auth off, said explicitly.
    config: { apiKeys: undefined, ...(opts.config?.apiKeys || opts.config?.keystoneUrl || opts.config?.auth ? {} : { auth: 'none' as const }), ...opts.config },
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.computeHosts ? { computeHosts: opts.computeHosts } : {}),
    ...(opts.inventory ? { inventory: opts.inventory } : {}),
  })
  await api.start()
  return {
    api,
    db,
    bus,
    metrics,
    async request(method, path, body, headers = {}) {
      const res = await api.app.request(path, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      })
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = text ? JSON.parse(text) : null
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers }
    },
    async close() {
      await api.stop()
      await bus.close()
      await drop()
    },
  }
}
