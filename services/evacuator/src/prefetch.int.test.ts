import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import type { RecoveryFinishedV1, RecoveryProgressV1 } from '@lazarus/contracts'
import { createOpenStackClient, type NovaClient } from '@lazarus/openstack'
import { createLogger } from '@lazarus/runtime'
import { afterEach, describe, expect, it } from 'vitest'
import { PREFETCH_MAX_AGE_MS } from './domain/prefetched-listing.js'
import { createEvacuatorService, type EvacuatorService } from './service.js'
import { evacuatorBusWorld } from './testing/bus-world.js'
import { FAST_EVACUATOR, hostFailed, hostFenced, waitFor } from './testing/fixtures.js'

/**
 * The failed host's instances listed while it is being fenced (host.failed), taken by the
 * recovery on host.fenced: the service against cloud-sim over HTTP, RabbitMQ and PostgreSQL.
 */
const log = createLogger('evacuator-prefetch-test', process.env['LOG_LEVEL'] ?? 'silent')
const LISTED_WHILE_FENCING = 'instances listed while the host was being fenced'

describe('evacuator: instances listed while the host is being fenced', () => {
  const world = evacuatorBusWorld('prefetch', ['recovery.progress.v1', 'recovery.finished.v1'])
  let sim: CloudSim
  let nova: NovaClient
  const services: EvacuatorService[] = []
  let h: (n: number) => string

  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop()
    await sim?.close()
  })

  const setUp = async () => {
    const prefix = randomBytes(3).toString('hex')
    h = (n: number) => `${prefix}-c${n}`
    sim = await startCloudSim({ hostNames: [h(1), h(2), h(3)], instancesPerHost: 0, evacuationDelayMs: 50, reportIntervalMs: 200, serviceDownTimeMs: 3000 })
    nova = (await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })).nova
    return [1, 2, 3].map((n) => sim.createServer({ host: h(1), name: `vm-${n}` }))
  }

  const start = async (o: { nova?: NovaClient; now?: () => Date } = {}) => {
    const s = createEvacuatorService({ bus: world.bus, db: world.db, nova: o.nova ?? nova, log, config: FAST_EVACUATOR, ...(o.now ? { now: o.now } : {}) })
    await s.start()
    services.push(s)
    return s
  }

  /** The requests that listed `host`'s servers (first pages only: one per listing). */
  const listingsOf = (host: string) =>
    sim.novaRequests().filter((r) => r.method === 'GET' && r.path.endsWith('/servers/detail') && new URLSearchParams(r.query).get('host') === host && !r.query.includes('marker='))
      .length

  const prefetchedRow = (notificationId: string) =>
    world.db.query('SELECT 1 FROM evacuator_prefetched_listings WHERE notification_id = $1', [notificationId]).then((r) => (r.rows.length > 0 ? true : undefined))

  const finished = (notificationId: string) =>
    waitFor('recovery.finished', () => world.seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === notificationId), 20_000)
  const selection = (notificationId: string) =>
    world.seen.find(
      (e): e is RecoveryProgressV1 =>
        e.type === 'recovery.progress.v1' && e.payload.notificationId === notificationId && e.payload.task === 'prepare_HA_enabled_instances_task' && e.payload.state === 'success',
    )?.payload.message

  const fence = async (host: string) => nova.setForcedDown(host, true)

  const expectAllMoved = (ids: string[]) => {
    for (const id of ids) expect(sim.servers().find((s) => s.id === id)).toMatchObject({ status: 'ACTIVE', host: expect.not.stringMatching(new RegExp(`^${h(1)}$`)) })
  }

  /** Fence the host, publish host.fenced, and check the recovery: finished, every instance moved, the host listed `listings` times in all. */
  const recoverFenced = async (fenced: ReturnType<typeof hostFenced>, ids: string[], o: { listings: number; listedWhileFencing: boolean }) => {
    await fence(h(1))
    await world.bus.publish(fenced)
    const end = await finished(fenced.payload.notificationId)
    expect(end.payload.status).toBe('finished')
    expect(listingsOf(h(1))).toBe(o.listings)
    expectAllMoved(ids)
    const said = expect(selection(fenced.payload.notificationId))
    if (o.listedWhileFencing) said.toContain(LISTED_WHILE_FENCING)
    else said.not.toContain(LISTED_WHILE_FENCING)
  }

  it('lists the host once when host.fenced comes while the listing made on host.failed is still running', async () => {
    const ids = await setUp()
    // Nova answers at once; the listing ends 600 ms later, as a slow one would.
    await start({ nova: { ...nova, listServersOnHost: async (host) => nova.listServersOnHost(host).then(async (s) => (await sleep(600), s)) } })
    sim.crashHost(h(1))
    const fenced = hostFenced(h(1))
    await world.bus.publish(hostFailed(fenced))
    await waitFor('the listing made on host.failed', () => listingsOf(h(1)) === 1 || undefined)
    await recoverFenced(fenced, ids, { listings: 1, listedWhileFencing: true })
  })

  it('takes the listing another replica made on host.failed, from the database', async () => {
    const ids = await setUp()
    const first = await start()
    sim.crashHost(h(1))
    const fenced = hostFenced(h(1))
    await world.bus.publish(hostFailed(fenced))
    await waitFor('the listing kept in the database', () => prefetchedRow(fenced.payload.notificationId))
    // The replica that listed is gone; a fresh one handles host.fenced.
    await first.stop()
    await start()
    await recoverFenced(fenced, ids, { listings: 1, listedWhileFencing: true })
  })

  it('lists the host as before when no host.failed came first', async () => {
    const ids = await setUp()
    await start()
    sim.crashHost(h(1))
    await recoverFenced(hostFenced(h(1)), ids, { listings: 1, listedWhileFencing: false })
  })

  it('lists the host again when the listing made on host.failed is older than the max age', async () => {
    const ids = await setUp()
    let skewMs = 0
    await start({ now: () => new Date(Date.now() + skewMs) })
    sim.crashHost(h(1))
    const fenced = hostFenced(h(1))
    await world.bus.publish(hostFailed(fenced))
    await waitFor('the listing kept in the database', () => prefetchedRow(fenced.payload.notificationId))
    skewMs = PREFETCH_MAX_AGE_MS + 1000
    await recoverFenced(fenced, ids, { listings: 2, listedWhileFencing: false })
  })
})
