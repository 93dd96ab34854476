import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { previousBuild } from '../support/previous-build.js'

interface SimServer {
  id: string
  name: string
  host: string
  status: string
  taskState: string | null
}

/**
 * A rolling upgrade caught half-way: one service still runs the previous release (built from
 * git at PREVIOUS_RELEASE, which writes no `schemaVersion` and knows no migration kinds) while
 * the others run this build, all as processes over RabbitMQ and PostgreSQL. A host failure
 * must still be recovered: old and new read each other's events and share the schema.
 */
describe.each(['evacuator', 'fencer'] as const)('mixed versions: the previous %s with the new others', (old) => {
  let c: Cluster
  let hosts: string[]
  let previous: { dir: string; sha: string }
  beforeAll(async () => {
    previous = previousBuild()
    c = await startCluster({ builds: { [old]: previous.dir } })
    ;({ hosts } = await c.registerSegment({ name: `mixed-${old}` }))
  }, 20 * 60_000)
  afterAll(async () => {
    await c?.stop()
  })

  it('runs the previous build, which predates event versions', () => {
    // Proof that the old process is the previous release: its contracts have no event-version rule.
    expect(existsSync(join(previous.dir, 'packages/contracts/dist/event-version.js'))).toBe(false)
    expect(existsSync(join(previous.dir, `services/${old}/dist/main.js`))).toBe(true)
    expect(c.processes[old]?.child.spawnargs.join(' ')).toContain(previous.sha)
  })

  it('recovers a crashed host: fenced, every instance evacuated, the notification finished', async () => {
    const victim = hosts[0]!
    const victims = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(victims.length).toBeGreaterThan(0)
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const accepted = await c.reportHostDown(victim)
    expect(accepted.status).toBe(202)
    const id = accepted.body.notification.notification_uuid
    const n = await c.finalNotification(id, 90_000)
    expect(n.status, n.message ?? '').toBe('finished')
    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of victims) {
      const s = after.find((x) => x.id === v.id)
      expect(s?.host, `instance ${v.name}`).not.toBe(victim)
      expect(s?.status).toBe('ACTIVE')
    }
    // Nothing either side could not read: no dead-lettered event in any service's log.
    const unreadable = Object.values(c.processes).flatMap((p) => p.lines.filter((l) => /unreadable version|invalid message/.test(l)))
    expect(unreadable).toEqual([])
  })
})
