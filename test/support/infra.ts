import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)

export const PG_ADMIN_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
export const AMQP_BASE = process.env['TEST_AMQP_BASE'] ?? 'amqp://guest:guest@127.0.0.1:5672'

/** A database of its own for one test file; dropped afterwards. */
export const createTestDatabase = async (name: string): Promise<{ url: string; drop(): Promise<void> }> => {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  await admin.query(`CREATE DATABASE "${name}"`)
  await admin.end()
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await c.end()
    },
  }
}

/** A RabbitMQ virtual host of its own for one test file, so queues never mix; deleted afterwards. */
export const createTestVhost = async (name: string): Promise<{ url: string; drop(): Promise<void> }> => {
  await run('rabbitmqctl', ['-q', 'delete_vhost', name]).catch(() => {})
  await run('rabbitmqctl', ['-q', 'add_vhost', name])
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', name, 'guest', '.*', '.*', '.*'])
  return {
    url: `${AMQP_BASE}/${encodeURIComponent(name)}`,
    drop: async () => {
      await run('rabbitmqctl', ['-q', 'delete_vhost', name]).catch(() => {})
    },
  }
}
