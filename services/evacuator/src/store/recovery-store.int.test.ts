import { randomUUID } from 'node:crypto'
import { createPgDb, type Db } from '@lazarus/db'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRecoveryStore, type NewRecovery, type RecoveryStore } from './recovery-store.js'
import { createWorkerRegistry } from './workers.js'

const PG_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

describe('recovery store over PostgreSQL', () => {
  let db: Db
  let store: RecoveryStore
  const created: string[] = []

  beforeAll(async () => {
    db = createPgDb(PG_URL, { max: 8 })
    store = createRecoveryStore(db)
    await store.migrate()
  })
  afterAll(async () => {
    if (created.length > 0) await db.query('DELETE FROM evacuator_recoveries WHERE notification_id = ANY($1::uuid[])', [created])
    await db.close()
  })

  /** A recovery of these instances (ids, or items as recorded), its work published. */
  const recovery = async (instances: (string | NewRecovery['items'][number])[]) => {
    const notificationId = randomUUID()
    created.push(notificationId)
    const ok = await store.createRecovery({
      notificationId,
      correlationId: notificationId,
      sourceHost: 'compute1',
      segmentId: randomUUID(),
      recoveryMethod: 'auto',
      status: 'evacuating',
      message: null,
      items: instances.map((i) => (typeof i === 'string' ? { instanceId: i, instanceName: `vm-${i}`, haEnabled: false, targetHost: null } : i)),
    })
    expect(ok).toMatchObject({ notificationId, status: 'evacuating', total: instances.length })
    await store.markWorkPublished(notificationId)
    return notificationId
  }

  it('records a recovery once, however often it is asked', async () => {
    const id = await recovery(['a'])
    const again = await store.createRecovery({
      notificationId: id,
      correlationId: id,
      sourceHost: 'compute1',
      segmentId: randomUUID(),
      recoveryMethod: 'auto',
      status: 'evacuating',
      message: null,
      items: [{ instanceId: 'b', instanceName: 'vm-b', haEnabled: false, targetHost: null }],
    })
    expect(again).toBeUndefined()
    expect((await store.items(id)).map((i) => i.instanceId)).toEqual(['a'])
  })

  it('gives an item to exactly one of many workers claiming it at once', async () => {
    const id = await recovery(['a'])
    const claims = await Promise.all(Array.from({ length: 8 }, (_, n) => store.claimItem(id, 'a', `worker-${n}`, 30_000)))
    const winners = claims.filter((c) => c !== undefined)
    expect(winners).toHaveLength(1)
    expect(winners[0]).toMatchObject({ status: 'running', attempts: 1 })
  })

  it('lets another worker take over an item whose claim expired, and shuts the old owner out', async () => {
    const id = await recovery(['a'])
    const dead = { notificationId: id, instanceId: 'a', owner: 'dead-worker' }
    expect(await store.claimItem(id, 'a', dead.owner, 1000)).toBeDefined()
    expect(await store.savePlan(dead, { lock: true, resetToError: false, originalVmState: 'active', originalTaskState: null, finalState: 'active' })).toBe(true)
    expect(await store.markEvacuateSent(dead)).toBe(true)
    expect(await store.claimItem(id, 'a', 'live-worker', 30_000)).toBeUndefined()

    await db.query(`UPDATE evacuator_items SET claim_expires_at = now() - interval '1 second' WHERE notification_id = $1`, [id])
    const resumed = await store.claimItem(id, 'a', 'live-worker', 30_000)
    // The new owner sees the step reached: it confirms rather than evacuating again.
    expect(resumed).toMatchObject({ step: 'evacuate_sent', attempts: 2, plan: { lock: true, finalState: 'active' } })
    expect(resumed?.evacuateSentAt).toBeInstanceOf(Date)
    expect(await store.finishItem(dead, { status: 'failed', destHost: null, reason: 'late' })).toBeUndefined()
    expect(await store.finishItem({ ...dead, owner: 'live-worker' }, { status: 'succeeded', destHost: 'compute2', reason: null })).toMatchObject({
      status: 'succeeded',
      destHost: 'compute2',
      correlationId: id,
    })
    expect(await store.getItem(id, 'a')).toMatchObject({ status: 'succeeded', destHost: 'compute2', claimOwner: null })
  })

  it('records the call as sent with the first claim of an item planned from a fresh listing, and only then', async () => {
    const plan = { lock: true, resetToError: false, originalVmState: 'active', originalTaskState: null, finalState: 'active' } as const
    const listed = { id: 'x', name: 'vm-x', status: 'ACTIVE', host: 'compute1', vmState: 'active', taskState: null, powerState: 1, locked: false, metadata: {} }
    const notificationId = await recovery([
      { instanceId: 'fresh', instanceName: 'vm-fresh', haEnabled: false, targetHost: null, listed: listed as never, plan },
      { instanceId: 'stale', instanceName: 'vm-stale', haEnabled: false, targetHost: null, listed: listed as never, plan },
      'unlisted',
    ])
    await db.query(`UPDATE evacuator_items SET listed_at = now() - interval '1 minute' WHERE notification_id = $1 AND instance_id = 'stale'`, [notificationId])

    const fresh = await store.claimItem(notificationId, 'fresh', 'w1', 1000, 30_000)
    expect(fresh).toMatchObject({ step: 'evacuate_sent', attempts: 1, plan })
    expect(fresh?.evacuateSentAt).toBeInstanceOf(Date)
    expect(await store.claimItem(notificationId, 'stale', 'w1', 1000, 30_000)).toMatchObject({ step: 'new', evacuateSentAt: null })
    expect(await store.claimItem(notificationId, 'unlisted', 'w1', 1000, 30_000)).toMatchObject({ step: 'new', evacuateSentAt: null })

    // Taken over after its worker died: the step stays as recorded, nothing is marked again.
    await db.query(`UPDATE evacuator_items SET claim_expires_at = now() - interval '1 second' WHERE notification_id = $1`, [notificationId])
    expect(await store.claimItem(notificationId, 'fresh', 'w2', 1000, 30_000)).toMatchObject({ step: 'evacuate_sent', attempts: 2 })
    expect(await store.claimItem(notificationId, 'stale', 'w2', 1000, 30_000)).toMatchObject({ step: 'new', attempts: 2 })
  })

  it('ends a recovery once when its last items finish at the same moment', async () => {
    const instances = ['a', 'b', 'c', 'd']
    const id = await recovery(instances)
    for (const i of instances) {
      const key = { notificationId: id, instanceId: i, owner: `w-${i}` }
      await store.claimItem(id, i, key.owner, 30_000)
      await store.finishItem(key, { status: i === 'd' ? 'failed' : 'succeeded', destHost: i === 'd' ? null : 'compute2', reason: i === 'd' ? 'no' : null })
    }
    const attempts = await Promise.all(
      instances.map(() => store.settleRecovery(id, (_r, items) => ({ action: 'finish', status: items.some((x) => x.status === 'failed') ? 'failed' : 'finished', message: 'm' }))),
    )
    const winners = attempts.filter((a) => a !== undefined)
    expect(winners).toHaveLength(1)
    expect(winners[0]?.recovery).toMatchObject({ status: 'failed', finishAnnounced: false })
    expect(await store.getRecovery(id)).toMatchObject({ status: 'failed' })
  })

  it('does not end a recovery while an item is open', async () => {
    const id = await recovery(['a', 'b'])
    await store.claimItem(id, 'a', 'w', 30_000)
    await store.finishItem({ notificationId: id, instanceId: 'a', owner: 'w' }, { status: 'succeeded', destHost: 'compute2', reason: null })
    expect(await store.settleRecovery(id, () => ({ action: 'finish', status: 'finished', message: 'm' }))).toBeUndefined()
    expect(await store.progress(id)).toEqual({ done: 1, total: 2 })
  })

  it('gives a reserved host to one of two recoveries claiming it at once, and frees it once the api cleared its flag', async () => {
    const [a, b] = [await recovery(['a']), await recovery(['b'])]
    const segment = randomUUID()
    const host = `reserved-${randomUUID().slice(0, 8)}`
    const wins = await Promise.all([store.claimReservedHost(host, segment, a), store.claimReservedHost(host, segment, b)])
    expect(wins.filter(Boolean)).toHaveLength(1)
    const winner = wins[0] ? a : b
    expect(await store.claimReservedHost(host, segment, winner)).toBe(true)
    // While the winner runs, nothing frees the host.
    await store.forgetAcknowledgedClaims(segment, [])
    expect(await store.reservedHostHolder(host)).toBe(winner)
    const item = winner === a ? 'a' : 'b'
    await store.claimItem(winner, item, 'w', 30_000)
    await store.finishItem({ notificationId: winner, instanceId: item, owner: 'w' }, { status: 'succeeded', destHost: host, reason: null })
    expect(await store.settleRecovery(winner, () => ({ action: 'finish', status: 'finished', message: 'm' }))).toBeDefined()
    // Still listed as reserved: the api has not cleared it; the claim stays.
    await store.forgetAcknowledgedClaims(segment, [host])
    expect(await store.reservedHostHolder(host)).toBe(winner)
    await store.forgetAcknowledgedClaims(segment, [])
    expect(await store.reservedHostHolder(host)).toBeUndefined()
  })

  it('sends failed items to the next round and reopens a recovery whose retry is due', async () => {
    const id = await recovery(['a', 'b'])
    for (const [i, ok] of [
      ['a', true],
      ['b', false],
    ] as const) {
      const key = { notificationId: id, instanceId: i, owner: 'w' }
      await store.claimItem(id, i, 'w', 30_000)
      await store.finishItem(key, { status: ok ? 'succeeded' : 'failed', destHost: ok ? 'c2' : null, reason: ok ? null : 'no' })
    }
    const adv = await store.settleRecovery(id, () => ({ action: 'advance', stage: 1, kind: 'reserved' }))
    expect(adv?.recovery).toMatchObject({ stage: 1, stageKind: 'reserved', status: 'evacuating', workPublished: false })
    expect((await store.items(id)).map((i) => i.status)).toEqual(['succeeded', 'waiting'])
    expect(await store.startRoundItems(id, 1, 'r1')).toEqual([{ instanceId: 'b', instanceName: 'vm-b', targetHost: 'r1' }])
    expect(await store.getItem(id, 'b')).toMatchObject({ status: 'pending', targetHost: 'r1' })
    await store.markWorkPublished(id)
    await store.claimItem(id, 'b', 'w', 30_000)
    await store.finishItem({ notificationId: id, instanceId: 'b', owner: 'w' }, { status: 'failed', destHost: null, reason: 'again' })
    await store.settleRecovery(id, () => ({ action: 'retry', afterMs: 0 }))
    expect(await store.getRecovery(id)).toMatchObject({ status: 'retry_wait' })
    const reopened = (await store.reopenDueRetries(() => 'scheduler')).filter((r) => r.notificationId === id)
    expect(reopened).toHaveLength(1)
    expect(reopened[0]).toMatchObject({ status: 'evacuating', retries: 1, stage: 0, stageKind: 'scheduler' })
    expect(await store.reopenDueRetries(() => 'scheduler')).not.toContainEqual(expect.objectContaining({ notificationId: id }))
  })

  it('releases a held wave once, to one of many processes, with each item’s planned host; a dropped planned host leaves Nova to choose', async () => {
    const notificationId = randomUUID()
    created.push(notificationId)
    const item = (id: string, wave: number, priority: number) => ({
      instanceId: id,
      instanceName: `vm-${id}`,
      haEnabled: false,
      targetHost: null,
      priority,
      group: wave === 0 ? 'db' : 'app',
      wave,
    })
    await store.createRecovery({
      notificationId,
      correlationId: notificationId,
      sourceHost: 'compute1',
      segmentId: randomUUID(),
      recoveryMethod: 'auto',
      status: 'evacuating',
      message: null,
      itemsWaiting: true,
      restartGroups: [
        { name: 'app', after: ['db'], timeoutS: 60 },
        { name: 'db', after: [], timeoutS: 600 },
      ],
      items: [item('app1', 1, 1), item('db5', 0, 5), item('db1', 0, 1)],
    })
    const id = notificationId
    expect(await store.getRecovery(id)).toMatchObject({ wave: -1, lastWave: 1, restartGroups: [{ name: 'app', after: ['db'], timeoutS: 60 }, { name: 'db' }] })
    await store.setPlannedTargets(
      id,
      new Map([
        ['db1', 'c2'],
        ['app1', 'c3'],
      ]),
    )
    // The round gives wave 0 only, in priority order, each with its planned host.
    expect(await store.startRoundItems(id, 0, null, 0)).toEqual([
      { instanceId: 'db1', instanceName: 'vm-db1', targetHost: 'c2' },
      { instanceId: 'db5', instanceName: 'vm-db5', targetHost: null },
    ])
    expect(await store.heldWaves(id)).toBeUndefined() // its work is not out yet
    await store.markWorkPublished(id)
    const held = await store.heldWaves(id)
    expect(held).toMatchObject({ wave: 0, lastWave: 1 })
    expect(await store.recoveriesHoldingWaves()).toContain(id)
    expect((await store.items(id)).map((i) => [i.instanceId, i.status, i.wave, i.priority, i.group, i.plannedHost])).toEqual([
      ['db1', 'pending', 0, 1, 'db', 'c2'],
      ['db5', 'pending', 0, 5, 'db', null],
      ['app1', 'waiting', 1, 1, 'app', 'c3'],
    ])
    // Many processes see the gate open at once: one releases the wave.
    const tries = await Promise.all(Array.from({ length: 5 }, () => store.releaseWaves(id, { stage: 0, fromWave: 0, upToWave: 1 })))
    const won = tries.filter((t) => t !== undefined)
    expect(won).toHaveLength(1)
    expect(won[0]?.items).toEqual([{ instanceId: 'app1', instanceName: 'vm-app1', targetHost: 'c3' }])
    expect(won[0]?.recovery).toMatchObject({ wave: 1, workPublished: false })
    await store.markWorkPublished(id)
    expect(await store.heldWaves(id)).toBeUndefined()
    expect(await store.recoveriesHoldingWaves()).not.toContain(id)
    // Nova refuses app1's planned host: it goes to Nova's choice, its plan kept for the record.
    const key = { notificationId: id, instanceId: 'app1', owner: 'w' }
    await store.claimItem(id, 'app1', 'w', 30_000)
    expect(await store.dropPlannedTarget(key)).toBe(true)
    expect(await store.getItem(id, 'app1')).toMatchObject({ targetHost: null, plannedHost: 'c3', step: 'evacuate_sent' })
    expect(await store.dropPlannedTarget({ ...key, owner: 'other' })).toBe(false)
  })

  it('hands stranded work to one sweeper: pending too long, or running under an expired claim', async () => {
    const id = await recovery(['a', 'b', 'c'])
    await store.claimItem(id, 'b', 'dead', 1000)
    await store.claimItem(id, 'c', 'alive', 30_000)
    await db.query(
      `UPDATE evacuator_items SET requested_at = now() - interval '1 hour',
         claim_expires_at = CASE WHEN claim_owner = 'dead' THEN now() - interval '1 second' ELSE claim_expires_at END
       WHERE notification_id = $1`,
      [id],
    )
    const [first, second] = await Promise.all([store.takeStrandedItems(60_000), store.takeStrandedItems(60_000)])
    const mine = [...(first ?? []), ...(second ?? [])].filter((i) => i.notificationId === id).map((i) => i.instanceId)
    expect(mine.sort()).toEqual(['a', 'b'])
  })

  it("frees a dead worker's claims before their lease ends, trusts a live one's and an unregistered owner's, and hands each orphan to one process", async () => {
    const workers = createWorkerRegistry(db)
    const id = await recovery(['a', 'b', 'c'])
    const [dead, alive, legacy] = [`dead-${id}`, `alive-${id}`, `legacy-${id}`]
    await workers.beat(dead, 60_000)
    await workers.beat(alive, 60_000)
    expect(await store.claimItem(id, 'a', dead, 30_000)).toBeDefined()
    expect(await store.claimItem(id, 'b', alive, 30_000)).toBeDefined()
    // An owner that never beat (a build without the registry, mid-upgrade) keeps its lease.
    expect(await store.claimItem(id, 'c', legacy, 30_000)).toBeDefined()
    await db.query(`UPDATE evacuator_items SET requested_at = now() - interval '1 minute' WHERE notification_id = $1`, [id])
    expect(await store.claimItem(id, 'a', 'other', 30_000)).toBeUndefined()
    expect((await workers.takeOrphanedItems(1000)).filter((i) => i.notificationId === id)).toEqual([])

    // `dead` stops beating: its registration runs out, its 30 s claim does not matter.
    await db.query(`UPDATE evacuator_workers SET alive_until = now() - interval '1 millisecond' WHERE worker_id = $1`, [dead])
    const [one, two] = await Promise.all([workers.takeOrphanedItems(1000), workers.takeOrphanedItems(1000)])
    const orphans = [...one, ...two].filter((i) => i.notificationId === id).map((i) => i.instanceId)
    expect(orphans).toEqual(['a'])
    // Published again just now: not again before `againAfterMs`.
    expect((await workers.takeOrphanedItems(60_000)).filter((i) => i.notificationId === id)).toEqual([])
    expect(await store.claimItem(id, 'b', 'other', 30_000)).toBeUndefined()
    expect(await store.claimItem(id, 'c', 'other', 30_000)).toBeUndefined()
    const taken = await store.claimItem(id, 'a', 'other', 30_000)
    expect(taken).toMatchObject({ instanceId: 'a', attempts: 2 })
    // The dead owner changes nothing any more.
    expect(await store.renewClaim({ notificationId: id, instanceId: 'a', owner: dead }, 30_000)).toBe(false)

    await workers.leave(dead)
    await workers.leave(alive)
    const left = await db.query('SELECT worker_id FROM evacuator_workers WHERE worker_id = ANY($1::text[])', [[dead, alive]])
    expect(left.rows).toEqual([])
  })
})
