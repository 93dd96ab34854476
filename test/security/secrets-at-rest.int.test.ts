import { randomBytes } from 'node:crypto'
import { EVENTS_EXCHANGE } from '@lazarus/contracts'
import amqp from 'amqplib'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { eventually } from '../support/processes.js'

/**
 * Issue #18: a BMC password given by reference never lands anywhere in clear. The whole
 * system runs as separate processes over RabbitMQ and PostgreSQL (api, detector, fencer,
 * evacuator, cloud-sim); a host is registered with `password_file=` and fenced through its
 * Redfish BMC, which only that password opens. Then every row of every table of the test
 * database, every message published on the events exchange (captured on a queue of the
 * test bound to `#`), every log line of every service and every api answer is searched for
 * the password: none holds it.
 *
 * The simulated cloud uses one password for Keystone and its BMCs, so the services also hold
 * it as OS_PASSWORD: this proves that one is never written out either.
 */

const SECRET = `bmc-${randomBytes(9).toString('hex')}`

interface Notification {
  notification_uuid: string
  status: string
  message: string | null
}

describe('secrets at rest and in flight', () => {
  let c: Cluster
  let hosts: string[]
  let segmentId: string
  let conn: amqp.ChannelModel
  const captured: string[] = []
  const answers: string[] = []

  const api = async <T>(method: string, path: string, body?: unknown) => {
    const r = await c.api<T>(method, path, body)
    answers.push(JSON.stringify(r.body))
    return r
  }

  beforeAll(async () => {
    c = await startCluster({ simEnv: { SIM_PASSWORD: SECRET, SIM_HOSTS: '3', SIM_INSTANCES_PER_HOST: '1' } })
    conn = await amqp.connect(c.amqpUrl)
    const ch = await conn.createChannel()
    await ch.checkExchange(EVENTS_EXCHANGE)
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true })
    await ch.bindQueue(q.queue, EVENTS_EXCHANGE, '#')
    await ch.consume(q.queue, (m) => m && captured.push(m.content.toString('utf8')), { noAck: true })
    ;({ segmentId, hosts } = await c.registerSegment({ name: 'secrets', quickEvacuateLevel: 2 }))
  }, 180_000)
  afterAll(async () => {
    await conn?.close().catch(() => undefined)
    await c?.stop()
  })

  it('registers hosts by reference and masks control_attributes in every answer', async () => {
    const list = await api<{ hosts: { name: string; control_attributes: string }[] }>('GET', `/v1/segments/${segmentId}/hosts`)
    expect(list.status).toBe(200)
    expect(list.body.hosts).toHaveLength(hosts.length)
    for (const h of list.body.hosts) expect(h.control_attributes).toMatch(/^driver=redfish .* password_file=\/\S+ insecure_http=true$/)

    // A password written in clear is refused with a 400 naming the field, and stored nowhere.
    const inline = await api<{ badRequest?: { message: string } }>('POST', `/v1/segments/${segmentId}/hosts`, {
      host: { name: 'inline-host', type: 'COMPUTE', control_attributes: `driver=redfish address=https://bmc/redfish/v1/Systems/1 username=admin password=${SECRET}` },
    })
    expect(inline.status).toBe(400)
    expect(inline.body.badRequest?.message).toMatch(/^Invalid input for field\/attribute host\.control_attributes: "password" holds a BMC password in clear/)
    expect(inline.body.badRequest?.message).not.toContain(SECRET)
    const inUrl = await api('POST', `/v1/segments/${segmentId}/hosts`, {
      host: { name: 'inline-host', type: 'COMPUTE', control_attributes: `driver=redfish address=https://admin:${SECRET}@bmc/redfish/v1/Systems/1` },
    })
    expect(inUrl.status).toBe(400)
    const first = list.body.hosts[0] as { name: string }
    const id = (await api<{ hosts: { uuid: string; name: string }[] }>('GET', `/v1/segments/${segmentId}/hosts?name=${first.name}`)).body.hosts[0]?.uuid
    const update = await api('PUT', `/v1/segments/${segmentId}/hosts/${id}`, { host: { control_attributes: `driver=ipmi address=10.0.0.1 password=${SECRET}` } })
    expect(update.status).toBe(400)
  })

  it('fences a host through its BMC with the referenced password; no table, message, log line or answer holds it', async () => {
    const victim = hosts[0] as string
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const accepted = await api<{ notification: Notification }>('POST', '/v1/notifications', {
      notification: {
        type: 'COMPUTE_HOST',
        hostname: victim,
        generated_time: new Date().toISOString(),
        payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
      },
    })
    expect(accepted.status).toBe(202)
    const id = accepted.body.notification.notification_uuid
    const n = await eventually(
      'the recovery to end',
      async () => {
        const r = await api<{ notification: Notification }>('GET', `/v1/notifications/${id}`)
        return ['finished', 'failed', 'ignored'].includes(r.body.notification.status) ? r.body.notification : undefined
      },
      90_000,
      250,
    )
    expect(n.status, n.message ?? '').toBe('finished')
    // The BMC opened with the password from the file: the host was powered off through it.
    const rec = await c.sim<{ powerActions: { host: string; action: string }[] }>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)

    // Messages of the recovery were captured, host snapshots among them.
    await eventually('the fence outcome on the capture queue', () => (captured.some((m) => m.includes('"host.fenced.v1"')) ? true : undefined), 10_000)
    expect(captured.some((m) => m.includes('password_file='))).toBe(true)
    expect(captured.filter((m) => m.includes(SECRET))).toEqual([])

    // Every row of every table of the database.
    const db = new pg.Client({ connectionString: c.databaseUrl })
    await db.connect()
    try {
      const tables = await db.query<{ s: string; t: string }>(
        `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
      )
      const names = tables.rows.map((r) => `${r.s}.${r.t}`)
      expect(names).toEqual(expect.arrayContaining(['public.api_hosts', 'public.fence_operations']))
      const leaks: string[] = []
      let rows = 0
      for (const { s, t } of tables.rows) {
        const r = await db.query<{ row: string }>(`SELECT x::text AS row FROM "${s}"."${t}" x`)
        rows += r.rowCount ?? 0
        for (const { row } of r.rows) if (row.includes(SECRET)) leaks.push(`${s}.${t}: ${row.slice(0, 200)}`)
      }
      expect(rows).toBeGreaterThan(0)
      expect(leaks).toEqual([])
      // The fencer's ledger holds the reference it fenced with.
      const fence = await db.query<{ request: string }>(`SELECT request::text AS request FROM fence_operations WHERE host = $1`, [victim])
      expect(fence.rows[0]?.request).toContain('password_file=')
    } finally {
      await db.end()
    }

    // Every api answer of the test, the dashboard's snapshot and its event stream.
    await api('GET', `/v1/segments/${segmentId}/hosts`)
    await api('GET', `/dashboard/state`)
    answers.push(await readSse(`${c.apiUrl}/dashboard/events`, 1_500))
    expect(answers.filter((a) => a.includes(SECRET))).toEqual([])

    // Every log line of every process but cloud-sim (the BMC itself).
    const logged = Object.entries(c.processes)
      .filter(([name]) => name !== 'cloud-sim')
      .flatMap(([name, p]) => p.lines.filter((l) => l.includes(SECRET)).map((l) => `${name}: ${l}`))
    expect(Object.values(c.processes).every((p) => p.lines.length > 0)).toBe(true)
    expect(logged).toEqual([])
  })
})

/** The first `ms` of a Server-Sent Events stream, as text. */
const readSse = async (url: string, ms: number): Promise<string> => {
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), ms)
  let text = ''
  try {
    const r = await fetch(url, { signal: ac.signal, headers: { accept: 'text/event-stream' } })
    const reader = r.body?.getReader()
    const decoder = new TextDecoder()
    for (;;) {
      const chunk = await reader?.read()
      if (!chunk || chunk.done) break
      text += decoder.decode(chunk.value)
      if (text.length > 1_000_000) break
    }
  } catch {
    // aborted at the end of the window
  } finally {
    clearTimeout(timer)
  }
  return text
}
