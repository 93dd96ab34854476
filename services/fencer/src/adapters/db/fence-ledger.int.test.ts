import { randomUUID } from 'node:crypto'
import type { HostFailedV1 } from '@lazarus/contracts'
import { createPgDb, type Db } from '@lazarus/db'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTestDb, type Engine } from '../../testing/databases.js'
import { createFenceLedger, LostClaimError, type ClaimRequest, type FenceLedger, type StoredOutcome } from './fence-ledger.js'
import { createFencerWorkers } from './fencer-workers.js'

const LEASE = 10_000
const t0 = new Date('2025-01-01T00:00:00.000Z')
const at = (ms: number) => new Date(t0.getTime() + ms)

const request = (host: string): ClaimRequest => {
  const notificationId = randomUUID()
  const payload: HostFailedV1['payload'] = {
    notificationId,
    reason: 'test',
    host: { id: randomUUID(), name: host, type: 'COMPUTE', controlAttributes: '', reserved: false, onMaintenance: false },
    segment: { id: randomUUID(), name: 's', recoveryMethod: 'auto', serviceType: 'compute', enabled: true, quickEvacuateLevel: 2 },
  }
  return { notificationId, host, level: 2, request: payload }
}

const fenced = (req: ClaimRequest): StoredOutcome => ({
  type: 'host.fenced.v1',
  payload: {
    notificationId: req.notificationId,
    host: req.request.host,
    segment: req.request.segment,
    level: 2,
    poweredOff: true,
    forcedDown: true,
    timings: { power_off_host: 5 },
  },
})

describe.each<Engine>(['pglite', 'postgres'])('fence ledger on %s', (engine) => {
  let db: Db
  let close: () => Promise<void>
  let url: string | undefined
  let ledger: FenceLedger
  let n = 0
  const host = () => `host-${(n += 1)}`

  beforeAll(async () => {
    ;({ db, close, url } = await openTestDb(engine))
    ledger = await createFenceLedger(db)
    await createFenceLedger(db) // migrating twice is harmless
  })
  afterAll(async () => close())

  it('gives a fresh operation to its first claimant and keeps others out while the lease lives', async () => {
    const req = request(host())
    expect(await ledger.claim(req, 'a', t0, LEASE)).toMatchObject({ kind: 'claimed', resumed: false, record: { state: 'started', owner: 'a', attempts: 1 } })
    expect(await ledger.claim(req, 'b', at(LEASE - 1), LEASE)).toMatchObject({ kind: 'busy', holder: { owner: 'a' } })
  })

  it('lets a lapsed claim be taken over, resuming from the recorded state; the old owner is stopped', async () => {
    const req = request(host())
    await ledger.claim(req, 'a', t0, LEASE)
    await ledger.advance(req.notificationId, 'a', { state: 'powered_off', timings: { power_off_host: 3 } }, at(1000), LEASE)
    expect(await ledger.claim(req, 'b', at(1000 + LEASE - 1), LEASE)).toMatchObject({ kind: 'busy' })
    const c = await ledger.claim(req, 'b', at(1000 + LEASE + 1), LEASE)
    expect(c).toMatchObject({ kind: 'claimed', resumed: true, record: { state: 'powered_off', owner: 'b', attempts: 2, timings: { power_off_host: 3 } } })
    await expect(ledger.renew(req.notificationId, 'a', at(LEASE * 2), LEASE)).rejects.toBeInstanceOf(LostClaimError)
    await expect(ledger.advance(req.notificationId, 'a', { timings: {} }, at(LEASE * 2), LEASE)).rejects.toBeInstanceOf(LostClaimError)
  })

  it("starts a failed fence again for an operator's retry (newer retriedAt), and only for that", async () => {
    const req = request(host())
    await ledger.claim(req, 'a', t0, LEASE)
    const failure: StoredOutcome = {
      type: 'host.fence_failed.v1',
      payload: { notificationId: req.notificationId, host: req.request.host, segment: req.request.segment, reason: 'BMC refused' },
    }
    await ledger.finish(req.notificationId, 'a', { state: 'failed', outcome: failure, timings: {}, reason: 'BMC refused' }, at(10))
    // A redelivery of the first request: the recorded failure, nothing fenced again.
    expect(await ledger.claim(req, 'b', at(20), LEASE)).toMatchObject({ kind: 'done', record: { state: 'failed' } })
    const fixed = { ...req.request, host: { ...req.request.host, controlAttributes: 'driver=redfish address=https://bmc' }, retriedAt: at(30).toISOString() }
    const retry: ClaimRequest = { ...req, request: fixed }
    const c = await ledger.claim(retry, 'c', at(40), LEASE)
    expect(c).toMatchObject({ kind: 'claimed', resumed: false, record: { state: 'started', owner: 'c', attempts: 2, outcome: null, reason: null } })
    expect(c.kind === 'claimed' && c.record.request.host.controlAttributes).toBe('driver=redfish address=https://bmc')
    // The same retry delivered again while it runs: busy, not a second reopening.
    expect(await ledger.claim(retry, 'd', at(50), LEASE)).toMatchObject({ kind: 'busy', holder: { owner: 'c' } })
    await ledger.finish(req.notificationId, 'c', { state: 'failed', outcome: failure, timings: {}, reason: 'again' }, at(60))
    // That retry's redelivery after it failed again: its recorded outcome, not a third fence.
    expect(await ledger.claim(retry, 'e', at(70), LEASE)).toMatchObject({ kind: 'done' })
  })

  it('allows one unfinished operation per host, across notifications', async () => {
    const h = host()
    const first = request(h)
    const second = request(h)
    await ledger.claim(first, 'a', t0, LEASE)
    expect(await ledger.claim(second, 'b', at(1), LEASE)).toMatchObject({ kind: 'busy', holder: { notificationId: first.notificationId } })
    await ledger.finish(first.notificationId, 'a', { state: 'fenced', outcome: fenced(first), timings: {} }, at(2))
    expect(await ledger.claim(second, 'b', at(3), LEASE)).toMatchObject({ kind: 'claimed', resumed: false })
  })

  it('answers a finished operation with its recorded outcome', async () => {
    const req = request(host())
    await ledger.claim(req, 'a', t0, LEASE)
    await ledger.finish(req.notificationId, 'a', { state: 'fenced', outcome: fenced(req), timings: { power_off_host: 5 } }, at(5))
    const again = await ledger.claim(req, 'b', at(LEASE * 10), LEASE)
    expect(again).toMatchObject({ kind: 'done', record: { state: 'fenced', outcome: fenced(req) } })
    await expect(ledger.finish(req.notificationId, 'a', { state: 'failed', outcome: fenced(req), timings: {} }, at(6))).rejects.toBeInstanceOf(LostClaimError)
  })

  it("closes another notification's abandoned operation of the host as failed", async () => {
    const h = host()
    const stale = request(h)
    const next = request(h)
    await ledger.claim(stale, 'a', t0, LEASE)
    const c = await ledger.claim(next, 'b', at(LEASE + 1), LEASE)
    expect(c.kind).toBe('claimed')
    if (c.kind !== 'claimed') return
    expect(c.superseded).toHaveLength(1)
    expect(c.superseded[0]).toMatchObject({ type: 'host.fence_failed.v1', payload: { notificationId: stale.notificationId } })
    expect(await ledger.get(stale.notificationId)).toMatchObject({ state: 'failed' })
  })

  it('gives a released claim to the next claimant at once', async () => {
    const req = request(host())
    await ledger.claim(req, 'a', t0, LEASE)
    await ledger.release(req.notificationId, 'a', at(10))
    expect(await ledger.claim(req, 'b', at(10), LEASE)).toMatchObject({ kind: 'claimed', resumed: true })
  })

  it.runIf(engine === 'postgres')('lets exactly one of many concurrent replicas claim a host', async () => {
    const replicas = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const own = createPgDb(url as string, { max: 2 })
        return { own, ledger: await createFenceLedger(own) }
      }),
    )
    try {
      const h = host()
      const claims = await Promise.all(replicas.flatMap((r, i) => [r.ledger.claim(request(h), `r${i}`, t0, LEASE), r.ledger.claim(request(h), `r${i}b`, t0, LEASE)]))
      expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1)
      expect(claims.filter((c) => c.kind === 'busy')).toHaveLength(11)
    } finally {
      await Promise.all(replicas.map((r) => r.own.close()))
    }
  })

  describe('owners that say they are alive (fencer_workers)', () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

    it('a claim whose owner is known dead is taken over before its lease, from the recorded state; the dead owner never comes back', async () => {
      const workers = createFencerWorkers(db)
      const req = request(host())
      // Given owner a of process wa, alive for 1 ms only (it was killed), its fence powered off
      expect(await workers.beat('wa', 1)).toBe(true)
      await ledger.claim(req, 'a', t0, LEASE, 'wa')
      await ledger.advance(req.notificationId, 'a', { state: 'power_off_sent', timings: { power_off_host: 3 } }, at(100), LEASE)
      await sleep(30)
      // When another process claims it with most of the lease left, then it resumes it
      expect(await workers.beat('wb', 2000)).toBe(true)
      const taken = await ledger.claim(req, 'b', at(200), LEASE, 'wb')
      expect(taken).toMatchObject({ kind: 'claimed', resumed: true, record: { state: 'power_off_sent', owner: 'b', ownerWorker: 'wb', attempts: 2 } })
      // and the dead process cannot say it is alive again, nor act on the claim
      expect(await workers.beat('wa', 2000)).toBe(false)
      await expect(ledger.advance(req.notificationId, 'a', { timings: {} }, at(300), LEASE)).rejects.toBeInstanceOf(LostClaimError)
    })

    it('a claim whose owner still beats is never taken over before its lease, however slow', async () => {
      const workers = createFencerWorkers(db)
      const req = request(host())
      await workers.beat('wc', 2000)
      await ledger.claim(req, 'c', t0, LEASE, 'wc')
      for (let i = 0; i < 3; i += 1) {
        await sleep(20)
        await workers.beat('wc', 2000)
        const busy = await ledger.claim(req, 'd', at(LEASE - 1), LEASE, 'wd')
        expect(busy).toMatchObject({ kind: 'busy', holder: { owner: 'c', ownerWorker: 'wc' } })
        expect(busy.kind === 'busy' && busy.holder.ownerAliveMs).toBeGreaterThan(1000)
      }
      // its lease still bounds it, as for an owner that does not beat
      expect(await ledger.claim(req, 'd', at(LEASE + 1), LEASE, 'wd')).toMatchObject({ kind: 'claimed', resumed: true })
    })

    it('another notification for a host whose fence owner died closes that fence and runs', async () => {
      const workers = createFencerWorkers(db)
      const h = host()
      const first = request(h)
      await workers.beat('we', 1)
      await ledger.claim(first, 'e', t0, LEASE, 'we')
      await sleep(30)
      const second = request(h)
      const claim = await ledger.claim(second, 'f', at(100), LEASE, 'wf')
      expect(claim).toMatchObject({ kind: 'claimed', resumed: false })
      expect(claim.kind === 'claimed' && claim.superseded[0]?.payload).toMatchObject({ reason: expect.stringContaining('its owner we died') })
    })
  })
})
