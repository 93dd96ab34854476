import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

const run = promisify(execFile)

/** `lazarus …` from this build; its exit code and output, whatever the code. */
const lazarus = async (...args: string[]): Promise<{ code: number; out: string }> => {
  try {
    const r = await run(process.execPath, [join(repoRoot, 'packages/cli/dist/main.js'), ...args], { cwd: repoRoot })
    return { code: 0, out: r.stdout + r.stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

/** Whether the process listened (`started`) or exited first (its code), and everything it wrote. */
const outcome = async (p: RunningProcess): Promise<{ started: boolean; code: number | null; output: string }> => {
  const exited = new Promise<number | null>((r) => {
    if (p.child.exitCode !== null) r(p.child.exitCode)
    else p.child.once('exit', (code) => r(code))
  })
  const started = await Promise.race([
    p.waitForLine(/"port":\d+/, 60_000).then(
      () => true,
      () => false,
    ),
    exited.then(() => false),
  ])
  const code = started ? await p.stop() : await exited
  return { started, code, output: p.lines.join('\n') }
}

/**
 * The start-up schema rule (packages/db/src/schema-rule.ts) on a real process: the api as
 * operators run it, on its own PostgreSQL database, with `lazarus db migrate` as the step
 * before it when auto-migrate is off.
 */
describe('a service at start against the schema it finds', () => {
  const id = `lazarus_schema_${process.pid}_${randomBytes(3).toString('hex')}`
  let db: { url: string; drop(): Promise<void> }
  let vhost: { url: string; drop(): Promise<void> }
  let sql: pg.Client
  const api = (env: Record<string, string> = {}) =>
    startNode('api', 'services/api/dist/main.js', { AUTH: 'none', AMQP_URL: vhost.url, DATABASE_URL: db.url, API_PORT: '0', LOG_LEVEL: 'info', ...env })

  beforeAll(async () => {
    ;[db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
    sql = new pg.Client({ connectionString: db.url })
    await sql.connect()
  }, 60_000)
  afterAll(async () => {
    await sql?.end()
    await Promise.all([db?.drop(), vhost?.drop()])
  })

  it('with auto-migrate off, refuses a schema missing its migrations and writes nothing', async () => {
    const r = await outcome(api({ DB_AUTO_MIGRATE: 'false' }))
    expect(r.started).toBe(false)
    expect(r.code).not.toBe(0)
    expect(r.output).toMatch(/schema of api lacks migration\(s\) 001-segments-hosts-notifications.*auto-migrate is off: run `lazarus db migrate` first/)
    const table = await sql.query(`SELECT to_regclass('schema_migrations')::text AS t`)
    expect(table.rows[0].t).toBeNull()
    const status = await lazarus('db', 'status', '--service', 'api', '--database-url', db.url)
    expect(status.code).toBe(1)
    expect(status.out).toMatch(/001-segments-hosts-notifications\s+expand\s+pending/)
  }, 90_000)

  it('starts with auto-migrate off ([database] auto_migrate = false in its file) once `lazarus db migrate` ran', async () => {
    const migrate = await lazarus('db', 'migrate', '--database-url', db.url)
    expect(migrate.code, migrate.out).toBe(0)
    expect(migrate.out).toMatch(/^api: applied 001-segments-hosts-notifications, /m)
    expect(migrate.out).toMatch(/^fencer: applied /m)
    expect(migrate.out).toMatch(/^evacuator: applied /m)
    expect((await lazarus('db', 'migrate', '--database-url', db.url)).out).toMatch(/^api: up to date$/m)
    const dir = mkdtempSync(join(tmpdir(), 'lazarus-schema-'))
    const file = join(dir, 'api.conf')
    writeFileSync(file, '[database]\nauto_migrate = false\n')
    const r = await outcome(api({ LAZARUS_CONFIG_FILE: file }))
    rmSync(dir, { recursive: true, force: true })
    expect(r.started, r.output).toBe(true)
    const status = await lazarus('db', 'status', '--database-url', db.url)
    expect(status.code, status.out).toBe(0)
  }, 90_000)

  it('starts on a schema with an expand migration it does not know (a newer release added it)', async () => {
    await sql.query(`INSERT INTO schema_migrations (service, id, kind) VALUES ('api', '900-newer-expand', 'expand')`)
    const r = await outcome(api({ DB_AUTO_MIGRATE: 'false' }))
    expect(r.started, r.output).toBe(true)
    expect((await lazarus('db', 'status', '--service', 'api', '--database-url', db.url)).out).toMatch(/900-newer-expand\s+expand\s+unknown/)
  }, 90_000)

  it('refuses to start on a contract migration it does not know, saying which, whatever auto-migrate says', async () => {
    await sql.query(`INSERT INTO schema_migrations (service, id, kind) VALUES ('api', '901-newer-contract', 'contract')`)
    for (const auto of ['true', 'false']) {
      const r = await outcome(api({ DB_AUTO_MIGRATE: auto }))
      expect(r.started).toBe(false)
      expect(r.code).not.toBe(0)
      expect(r.output).toMatch(/schema of api has contract migration\(s\) this build does not know: 901-newer-contract/)
    }
    const migrate = await lazarus('db', 'migrate', '--service', 'api', '--database-url', db.url)
    expect(migrate.code).toBe(1)
    expect(migrate.out).toMatch(/901-newer-contract/)
    expect((await lazarus('db', 'status', '--service', 'api', '--database-url', db.url)).code).toBe(1)
  }, 120_000)
})
