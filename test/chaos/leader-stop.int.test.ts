import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../support/processes.js'
import { log, startRabbitCluster, startSystem, type RabbitCluster, type SimRecords, type SimServer, type System } from './driver.js'

/**
 * The RabbitMQ node leading the evacuator's work queue is stopped in the middle of a host
 * recovery. The quorum queues elect a leader on another node, the replicas connected to the
 * stopped node wait for it while the others carry on, and the recovery completes with
 * nothing lost: one power off, every instance ACTIVE elsewhere, one evacuate per instance.
 *
 * Three-node cluster from infra/rabbitmq-cluster, PostgreSQL, cloud-sim, two replicas of
 * api, detector and fencer and three evacuators (one per node), as processes.
 * Needs the built services (`npx tsc -b`).
 */
const INSTANCES = 10

describe('the RabbitMQ node leading the work queue stops mid-recovery', () => {
  let rabbit: RabbitCluster
  let sys: System
  let hosts: string[]

  beforeAll(async () => {
    rabbit = await startRabbitCluster({ name: 'lzleader' })
    log(`3-node cluster up in ${rabbit.upMs} ms`)
    sys = await startSystem({
      rabbit,
      replicas: { api: 2, detector: 2, fencer: 2, evacuator: 3 },
      simEnv: { SIM_HOSTS: '4', SIM_INSTANCES_PER_HOST: '0', SIM_EVACUATION_DELAY_MS: '500' },
      // One evacuation at a time per worker: the recovery lasts long enough to be cut in two.
      serviceEnv: { evacuator: { HOST_FAILURE_RECOVERY_THREADS: '1' } },
    })
    ;({ hosts } = await sys.registerSegment('leader-stop'))
  }, 420_000)

  afterAll(async () => {
    await sys?.stop()
    await rabbit?.down()
  }, 180_000)

  it('finishes the recovery with nothing lost', async () => {
    const victim = hosts[0]!
    const ids: string[] = []
    for (let n = 0; n < INSTANCES; n += 1) ids.push((await sys.sim<{ id: string }>('POST', '/sim/servers', { host: victim, name: `vm-${n}` })).id)

    const leader = await rabbit.leaderOf('evacuator.work')
    await sys.sim('POST', `/sim/hosts/${victim}/crash`)
    const t0 = Date.now()
    const notificationId = await sys.notify(victim)

    // Mid-recovery: some evacuation is under way in Nova, most are not done.
    await eventually(
      'the first evacuation to start',
      async () => {
        const { servers } = await sys.sim<{ servers: SimServer[] }>('GET', '/sim/servers')
        return servers.some((s) => ids.includes(s.id) && s.taskState === 'rebuilding') ? true : undefined
      },
      60_000,
      50,
    )
    const stopping = rabbit.stopNode(leader)
    const doneBefore = (await sys.sim<SimRecords>('GET', '/sim/records')).evacuations.length
    log(`stopping node ${leader}, leader of evacuator.work, with ${doneBefore}/${INSTANCES} evacuations done`)
    expect(doneBefore).toBeLessThan(INSTANCES)
    const stopMs = await stopping
    const newLeader = await rabbit.leaderOf('evacuator.work')
    log(`node ${leader} stopped in ${stopMs} ms; evacuator.work now led by node ${newLeader}`)
    expect(newLeader).not.toBe(leader)

    const n = await eventually(
      'the notification to reach a final status',
      async () => {
        const r = await sys.api<{ notification: { status: string; message: string | null } }>('GET', `/v1/notifications/${notificationId}`)
        return ['finished', 'failed', 'ignored'].includes(r.body.notification.status) ? r.body.notification : undefined
      },
      180_000,
      500,
    )
    log(`recovery ${n.status} ${Date.now() - t0} ms after the notification`)
    expect(n.status, n.message ?? '').toBe('finished')

    const servers = await eventually('every instance settled', async () => {
      const { servers } = await sys.sim<{ servers: SimServer[] }>('GET', '/sim/servers')
      const mine = servers.filter((s) => ids.includes(s.id))
      return mine.every((s) => s.taskState === null && s.locked !== true) ? mine : undefined
    })
    for (const s of servers) {
      expect(s.host, s.name).not.toBe(victim)
      expect(s.status, s.name).toBe('ACTIVE')
    }
    const rec = await sys.sim<SimRecords>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)
    for (const id of ids)
      expect(
        rec.evacuations.filter((e) => e.serverId === id),
        id,
      ).toHaveLength(1)

    // The node comes back and rejoins; the queue keeps all three members.
    const startMs = await rabbit.startNode(leader)
    log(`node ${leader} back in ${startMs} ms`)
    await new Promise((r) => setTimeout(r, 3000))
    const again = await sys.sim<SimRecords>('GET', '/sim/records')
    for (const id of ids)
      expect(
        again.evacuations.filter((e) => e.serverId === id),
        id,
      ).toHaveLength(1)
  }, 400_000)
})
