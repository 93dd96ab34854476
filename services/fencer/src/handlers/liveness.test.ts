import { createLogger } from '@lazarus/runtime'
import { afterEach, describe, expect, it } from 'vitest'
import { createFencerWorkers, type FencerWorkers } from '../adapters/db/fencer-workers.js'
import { FENCER_MIGRATIONS } from '../adapters/db/migrations.js'
import { openTestDb } from '../testing/databases.js'
import { type FencerLiveness, LivenessLostError, startLiveness } from './liveness.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const settings = { workerBeatMs: 50, workerDeadAfterMs: 600, workerSafetyMs: 150 }

describe('a fencer process saying it is alive (PGlite)', () => {
  let cleanup: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c()
    cleanup = []
  })

  const open = async () => {
    const { db, close } = await openTestDb('pglite')
    await db.migrate('fencer', FENCER_MIGRATIONS)
    cleanup.push(close)
    let reachable = true
    const real = createFencerWorkers(db)
    const workers: FencerWorkers = {
      beat: (id, ms) => (reachable ? real.beat(id, ms) : Promise.reject(new Error('database unreachable'))),
      leave: (id) => real.leave(id),
    }
    const aliveUntilLeftMs = async (id: string) =>
      Number((await db.query<{ ms: number }>('SELECT extract(epoch FROM (alive_until - now())) * 1000 AS ms FROM fencer_workers WHERE worker_id = $1', [id])).rows[0]?.ms)
    const liveness = await startLiveness(workers, settings, createLogger('fencer-test', 'silent'))
    cleanup.push(() => liveness.stop())
    return { real, liveness, aliveUntilLeftMs, cut: (v: boolean) => (reachable = !v) }
  }

  const mine = (l: FencerLiveness) => {
    const c = l.current()
    if (!c) throw new Error('not alive')
    return c
  }

  it('keeps its row alive while it beats, and may act', async () => {
    const { liveness, aliveUntilLeftMs } = await open()
    const { workerId, signal } = mine(liveness)
    await sleep(300)
    expect(() => liveness.assert(workerId)).not.toThrow()
    expect(signal.aborted).toBe(false)
    expect(await aliveUntilLeftMs(workerId)).toBeGreaterThan(300)
  })

  it('cut from the database, it stops acting before the others may see it dead, then lives on under a new worker id', async () => {
    const { liveness, aliveUntilLeftMs, cut, real } = await open()
    const { workerId, signal } = mine(liveness)
    // Given the database becomes unreachable for its beats
    cut(true)
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
    // When its incarnation ends (its fence steps abort), then its row is still alive: nobody may have taken its claims yet
    expect(signal.reason).toBeInstanceOf(LivenessLostError)
    expect(await aliveUntilLeftMs(workerId)).toBeGreaterThan(0)
    expect(() => liveness.assert(workerId)).toThrow(LivenessLostError)
    // and once the database is back, it beats as a new worker; the old row stays dead
    cut(false)
    await sleep(settings.workerDeadAfterMs)
    const next = mine(liveness)
    expect(next.workerId).not.toBe(workerId)
    expect(await real.beat(workerId, settings.workerDeadAfterMs)).toBe(false)
    expect(() => liveness.assert(workerId)).toThrow(LivenessLostError)
  })
})
