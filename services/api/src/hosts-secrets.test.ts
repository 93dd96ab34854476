import { NotificationReceivedV1, topology } from '@lazarus/contracts'
import { ACK } from '@lazarus/bus'
import { openDb } from '@lazarus/db'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrations } from './store/migrations.js'
import { startHarness, type Harness } from './testing/harness.js'

/**
 * Issue #18 and #19 at the api: control_attributes never hold or show a BMC password, and a
 * host the fencer could not fence at its level is accepted as Masakari would, with a warning.
 */
describe('host control_attributes: secrets and warnings', () => {
  let h: Harness
  let n = 0
  const unique = (p: string) => `${p}-${(n += 1)}`
  const received: NotificationReceivedV1[] = []

  beforeAll(async () => {
    h = await startHarness()
    await h.bus.subscribe(topology.detectorOnNotification, NotificationReceivedV1, async (e) => {
      received.push(e)
      return ACK
    })
  })
  afterAll(async () => h?.close())

  const segment = async (level: 1 | 2 | 3) => {
    const r = await h.request('POST', '/v1/segments', { segment: { name: unique('seg'), recovery_method: 'auto', service_type: 'COMPUTE', quick_evacuate_level: level } })
    expect(r.status).toBe(201)
    return r.body.segment.uuid as string
  }
  const createHost = (segmentId: string, controlAttributes: string | null, name = unique('compute')) =>
    h.request('POST', `/v1/segments/${segmentId}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: controlAttributes } })

  it.each([
    ['driver=redfish address=https://bmc/redfish/v1/Systems/1 username=admin password=hunter2', '"password"'],
    ['driver=ipmi address=10.0.0.7 PASSWORD="hunter2 with spaces"', '"password"'],
    ['driver=fence_agent agent=fence_ipmilan passwd=hunter2', '"passwd"'],
    ['driver=redfish address=https://admin:hunter2@bmc/redfish/v1/Systems/1', '"address"'],
    ['driver=ipmi address=b level2.pdu-a.driver=fence_agent level2.pdu-a.password=hunter2', '"level2\\.pdu-a\\.password"'],
  ])('refuses a password in clear on create and update with a 400 naming the field: %s', async (attrs, key) => {
    const seg = await segment(2)
    const r = await createHost(seg, attrs)
    expect(r.status).toBe(400)
    expect(r.body.badRequest.message).toMatch(new RegExp(`^Invalid input for field/attribute host\\.control_attributes: ${key} holds a BMC password in clear`))
    expect(r.body.badRequest.message).toContain('password_file=/etc/lazarus/bmc/')
    expect(JSON.stringify(r.body)).not.toContain('hunter2')
    expect((await h.request('GET', `/v1/segments/${seg}/hosts`)).body.hosts).toEqual([])

    const ok = await createHost(seg, 'driver=redfish address=https://bmc/redfish/v1/Systems/1 username=admin password_file=/etc/lazarus/bmc/c1')
    expect(ok.status).toBe(201)
    const put = await h.request('PUT', `/v1/segments/${seg}/hosts/${ok.body.host.uuid}`, { host: { control_attributes: attrs } })
    expect(put.status).toBe(400)
    expect(put.body.badRequest.message).toMatch(/host\.control_attributes/)
    const after = await h.request('GET', `/v1/segments/${seg}/hosts/${ok.body.host.uuid}`)
    expect(after.body.host.control_attributes).toBe('driver=redfish address=https://bmc/redfish/v1/Systems/1 username=admin password_file=/etc/lazarus/bmc/c1')
  })

  it('masks a password that a row holds anyway (written before the rule) in every answer and in the events it builds', async () => {
    const seg = await segment(2)
    const name = unique('legacy')
    const created = await createHost(seg, 'driver=redfish address=https://bmc/redfish/v1/Systems/1 username=admin password_file=/etc/lazarus/bmc/x', name)
    expect(created.status).toBe(201)
    await h.db.query(`UPDATE api_hosts SET control_attributes = $1 WHERE name = $2`, ['driver=redfish address=https://u:hunter2@bmc/x username=admin password=hunter2', name])
    const masked = 'driver=redfish address=https://u:***@bmc/x username=admin password=***'
    const show = await h.request('GET', `/v1/segments/${seg}/hosts/${created.body.host.uuid}`)
    expect(show.body.host.control_attributes).toBe(masked)
    const list = await h.request('GET', `/v1/segments/${seg}/hosts`)
    expect(list.body.hosts[0].control_attributes).toBe(masked)
    const update = await h.request('PUT', `/v1/segments/${seg}/hosts/${created.body.host.uuid}`, { host: { reserved: true } })
    expect(update.status).toBe(200)
    expect(JSON.stringify(update.body)).not.toContain('hunter2')
    expect(JSON.stringify((await h.request('GET', '/dashboard/state')).body)).not.toContain('hunter2')

    const accepted = await h.request('POST', '/v1/notifications', {
      notification: {
        type: 'COMPUTE_HOST',
        hostname: name,
        generated_time: new Date().toISOString(),
        payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
      },
    })
    expect(accepted.status).toBe(202)
    const id = accepted.body.notification.notification_uuid as string
    const deadline = Date.now() + 5_000
    while (!received.some((e) => e.payload.notificationId === id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const evt = received.find((e) => e.payload.notificationId === id)
    expect(evt?.payload.host.name).toBe(name)
    expect(JSON.stringify(evt)).not.toContain('hunter2')
  })

  describe('a host whose control_attributes name no fencing device (Masakari docs: "SSH")', () => {
    it('is accepted at level 2 with a Lazarus-Warning header that says what to set; the body keeps its Masakari shape', async () => {
      const seg = await segment(2)
      const name = unique('ssh')
      const r = await createHost(seg, 'SSH', name)
      expect(r.status).toBe(201)
      expect(r.headers.get('lazarus-warning')).toBe(
        'control_attributes name no fencing device, so at quick_evacuate_level 2 a failure of this host fails its fence and nothing is evacuated; ' +
          `set driver=redfish address=https://<bmc>/redfish/v1/Systems/<id> username=<user> password_file=/etc/lazarus/bmc/${name} ` +
          '(or driver=ipmi / driver=fence_agent), or quick_evacuate_level=1',
      )
      expect(Object.keys(r.body)).toEqual(['host'])
      expect(r.body.host).toMatchObject({ name, control_attributes: 'SSH', failover_segment_id: seg })
      // An update that sets them warns as well; one that leaves them alone does not repeat it.
      const upd = await h.request('PUT', `/v1/segments/${seg}/hosts/${r.body.host.uuid}`, { host: { control_attributes: 'driver=none' } })
      expect(upd.headers.get('lazarus-warning')).toMatch(/name no fencing device/)
      const other = await h.request('PUT', `/v1/segments/${seg}/hosts/${r.body.host.uuid}`, { host: { reserved: true } })
      expect(other.headers.get('lazarus-warning')).toBeNull()
    })

    it('is accepted without a warning at level 1, where no device is used', async () => {
      const r = await createHost(await segment(1), 'SSH')
      expect(r.status).toBe(201)
      expect(r.headers.get('lazarus-warning')).toBeNull()
    })

    it('warns about attributes the fencer cannot parse, and not about a host with a device', async () => {
      const seg = await segment(3)
      const bad = await createHost(seg, 'driver=redfish SSH')
      expect(bad.status).toBe(201)
      expect(bad.headers.get('lazarus-warning')).toMatch(/^control_attributes: control attribute "SSH" is not key=value; the fencer will refuse/)
      const good = await createHost(seg, 'driver=redfish address=https://bmc/redfish/v1/Systems/1 username=a password_file=/etc/lazarus/bmc/b')
      expect(good.headers.get('lazarus-warning')).toBeNull()
      const ownLevel = await createHost(seg, 'quick_evacuate_level=1')
      expect(ownLevel.headers.get('lazarus-warning')).toBeNull()
    })

    it('reads a fencing topology as the fencer does: prefixed devices are devices, a malformed prefix is warned about', async () => {
      const seg = await segment(2)
      const levels = await createHost(seg, 'level1.bmc.driver=ipmi level1.bmc.address=b level2.pdu.driver=fence_agent level2.pdu.agent=fence_apc_snmp')
      expect(levels.status).toBe(201)
      expect(levels.headers.get('lazarus-warning')).toBeNull()
      const bad = await createHost(seg, 'driver=ipmi address=b pdu.driver=fence_agent')
      expect(bad.status).toBe(201)
      expect(bad.headers.get('lazarus-warning')).toMatch(/^control_attributes: control attribute "pdu\.driver" is neither a key nor level<1-9>\.<device>\.<key>/)
    })
  })
})

describe('migration 006: passwords stored before the rule', () => {
  it('masks them in api_hosts and in events waiting in the outbox', async () => {
    const db = await openDb(undefined)
    try {
      const before = migrations.findIndex((m) => m.id === '006-scrub-inline-bmc-passwords')
      expect(before).toBeGreaterThan(0)
      await db.migrate('api', migrations.slice(0, before))
      const now = new Date().toISOString()
      await db.query(`INSERT INTO api_segments (uuid, name, recovery_method, service_type, created_at) VALUES ($1, 's', 'auto', 'COMPUTE', $2)`, [randomUUID(), now])
      const rows = [
        ['h1', 'driver=redfish address=https://bmc/x username=admin password=hunter2'],
        ['h2', `driver=ipmi address=bmc password="hunter2 two", username=u`],
        ['h3', 'driver=redfish address=https://u:hunter2@bmc/x password_file=/etc/lazarus/bmc/h3'],
        ['h4', 'SSH'],
        ['h5', null],
      ] as const
      for (const [name, attrs] of rows) {
        await db.query(`INSERT INTO api_hosts (uuid, name, segment_id, type, control_attributes, created_at) SELECT $1, $2, id, 'COMPUTE', $3, $4 FROM api_segments`, [
          randomUUID(),
          name,
          attrs,
          now,
        ])
      }
      const body = { type: 'notification.received.v1', payload: { host: { name: 'h1', controlAttributes: 'driver=redfish password=hunter2' } } }
      await db.query(`INSERT INTO api_outbox (event_id, type, body, created_at, available_at) VALUES ($1, 'notification.received.v1', $2::jsonb, $3, $3)`, [
        randomUUID(),
        JSON.stringify(body),
        now,
      ])

      await db.migrate('api', migrations)

      const hosts = await db.query<{ name: string; control_attributes: string | null }>(`SELECT name, control_attributes FROM api_hosts ORDER BY name`)
      expect(hosts.rows).toEqual([
        { name: 'h1', control_attributes: 'driver=redfish address=https://bmc/x username=admin password=***' },
        { name: 'h2', control_attributes: 'driver=ipmi address=bmc password=***, username=u' },
        { name: 'h3', control_attributes: 'driver=redfish address=https://u:***@bmc/x password_file=/etc/lazarus/bmc/h3' },
        { name: 'h4', control_attributes: 'SSH' },
        { name: 'h5', control_attributes: null },
      ])
      const outbox = await db.query<{ body: string }>(`SELECT body::text AS body FROM api_outbox`)
      expect(outbox.rows[0]?.body).toContain('password=***')
      expect(outbox.rows[0]?.body).not.toContain('hunter2')
    } finally {
      await db.close()
    }
  })
})
