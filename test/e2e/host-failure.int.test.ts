import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'

interface SimServer {
  id: string
  name: string
  host: string
  status: string
  taskState: string | null
}
interface SimRecords {
  evacuations: { serverId: string; from: string; to: string }[]
  powerActions: { host: string; action: string }[]
  forcedDown: { host: string; forcedDown: boolean }[]
}

describe('host failure, four services as separate processes over RabbitMQ and PostgreSQL', () => {
  let c: Cluster
  let hosts: string[]
  beforeAll(async () => {
    c = await startCluster()
    ;({ hosts } = await c.registerSegment({ name: 'e2e' }))
  }, 120_000)
  afterAll(async () => {
    await c?.stop()
  })

  it('fences a crashed host and brings every instance up on another host', async () => {
    const victim = hosts[0]!
    const before = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    const victims = before.filter((s) => s.host === victim)
    expect(victims.length).toBeGreaterThan(0)

    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const accepted = await c.reportHostDown(victim)
    expect(accepted.status).toBe(202)
    const n = await c.finalNotification(accepted.body.notification.notification_uuid)
    expect(n.status).toBe('finished')

    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of victims) {
      const s = after.find((x) => x.id === v.id)
      expect(s?.host, `instance ${v.name}`).not.toBe(victim)
      expect(s?.status).toBe('ACTIVE')
      expect(s?.taskState).toBeNull()
    }
    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    // Fenced once, forced down, and each instance evacuated exactly once.
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)
    expect(rec.forcedDown.filter((f) => f.host === victim && f.forcedDown)).toHaveLength(1)
    for (const v of victims) expect(rec.evacuations.filter((e) => e.serverId === v.id)).toHaveLength(1)
  })

  it('moves nothing when the BMC refuses to power the host off, and fails the notification', async () => {
    const victim = hosts[1]!
    const before = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    const victims = before.filter((s) => s.host === victim)
    await c.sim('PUT', `/sim/hosts/${victim}/bmc-fault`, { fault: 'refuse' })
    await c.sim('POST', `/sim/hosts/${victim}/crash`)

    const accepted = await c.reportHostDown(victim)
    expect(accepted.status).toBe(202)
    const n = await c.finalNotification(accepted.body.notification.notification_uuid)
    expect(n.status).toBe('failed')
    expect(n.message ?? '').toMatch(/power|fence|bmc|redfish/i)

    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    expect(rec.evacuations.filter((e) => e.from === victim)).toHaveLength(0)
    expect(rec.forcedDown.filter((f) => f.host === victim)).toHaveLength(0)
    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of victims) expect(after.find((x) => x.id === v.id)?.host).toBe(victim)
  })
})
