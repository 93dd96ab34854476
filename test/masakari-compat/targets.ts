import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { openDb, type Db } from '@lazarus/db'
import { issueToken } from '@lazarus/openstack'
import { loadBox, type BoxConfig } from '../real-nova/box.js'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

const run = promisify(execFile)

/**
 * The two Masakari v1 APIs the compatibility suite runs against: Lazarus's api (a process
 * started against the box's Keystone and Nova) and the real Masakari 14 of
 * infra/openstack-box. Both are reached the same way, with one token from the box's Keystone.
 * Only what cannot go through the API differs: putting a notification in a given status
 * (the engines would need a real failure to get there), done in each one's own database.
 */
export interface Target {
  name: string
  /** Base URL ending in /v1. */
  url: string
  setup(): Promise<void>
  /** Put a notification in this status, as a recovery in progress (or failed) would. */
  setStatus(notificationUuid: string, status: string): Promise<void>
  /**
   * Wait until this target's own engine is done with a notification, so that a status the
   * test sets afterwards is not overwritten by the engine finishing it. `status` reads the
   * notification's current status through the API.
   */
  engineDone(status: () => Promise<string>): Promise<void>
  teardown(): Promise<void>
}

export const boxOrReason = loadBox()
export const box: BoxConfig | undefined = boxOrReason.box

/** A token of the box's admin, which both targets accept as an admin. */
export const boxToken = async (b: BoxConfig): Promise<string> => (await issueToken(b.client, 30_000)).token

export const lazarusTarget = (b: BoxConfig): Target => {
  let api: RunningProcess | undefined
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined
  let vhost: Awaited<ReturnType<typeof createTestVhost>> | undefined
  let url = ''
  let conn: Db | undefined
  return {
    name: 'lazarus',
    get url() {
      return url
    },
    async setup() {
      if (!existsSync(join(repoRoot, 'services/api/dist/main.js'))) throw new Error('services/api/dist/main.js is missing: build first (npx tsc -b)')
      db = await createTestDatabase(`lazarus_mcompat_${process.pid}`)
      vhost = await createTestVhost(`lazarus-mcompat-${process.pid}`)
      api = startNode('api', 'services/api/dist/main.js', {
        API_PORT: '0',
        DATABASE_URL: db.url,
        AMQP_URL: vhost.url,
        KEYSTONE_URL: b.client.authUrl,
        // The same OS_* validate tokens and look host names up in Nova (COMPUTE_HOST_CHECK=nova: no silent skip).
        ...b.env,
        COMPUTE_HOST_CHECK: 'nova',
        LOG_LEVEL: 'info',
      })
      const line = await api.waitForLine(/api listening/, 60_000)
      url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}/v1`
      conn = await openDb(db.url)
    },
    async setStatus(id, status) {
      await conn?.query('UPDATE api_notifications SET status = $2 WHERE notification_uuid = $1', [id, status])
    },
    // The api runs alone here: nothing but the test changes a notification's status.
    async engineDone() {},
    async teardown() {
      await conn?.close()
      await api?.stop()
      await vhost?.drop()
      await db?.drop()
    },
  }
}

/** The box's Masakari (MASAKARI_URL, with WITH_MASAKARI=1, the default). */
export const masakariTarget = (b: BoxConfig): Target => ({
  name: 'masakari',
  url: (b.masakariUrl ?? '').replace(/\/+$/, ''),
  async setup() {
    const r = await fetch(`${this.url.replace(/\/v1$/, '')}/`)
    if (!r.ok) throw new Error(`Masakari at ${this.url} answered ${r.status}`)
  },
  async setStatus(id, status) {
    // Masakari's own database on the box's MariaDB (root over the local socket, as up.sh uses it).
    if (!/^[0-9a-f-]{36}$/.test(id) || !/^[a-z]+$/.test(status)) throw new Error('bad id or status')
    await run('mysql', ['masakari', '-e', `UPDATE notifications SET status='${status}' WHERE notification_uuid='${id}'`], { timeout: 30_000 })
  },
  async engineDone(status) {
    // masakari-engine takes the notification over RPC and writes its outcome (`finished` for a
    // host that STARTED) a moment after the API answered.
    const deadline = Date.now() + 60_000
    for (;;) {
      const now = await status()
      if (now !== 'new' && now !== 'running') return
      if (Date.now() > deadline) throw new Error(`masakari-engine left the notification ${now} for 60 s`)
      await new Promise((r) => setTimeout(r, 250))
    }
  },
  async teardown() {},
})
