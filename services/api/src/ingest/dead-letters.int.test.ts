import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTestDb } from '../testing/harness.js'
import { createDbIngestStore } from './dead-letters.js'

/**
 * Issue #18: the Alertmanager dead letters (and the alerts already taken) grew without
 * bound; whoever may post alerts could fill the database. Both are now bounded: dead
 * letters by count and age, oldest dropped first; alerts taken by age.
 */
describe('ingest retention', () => {
  let env: Awaited<ReturnType<typeof openTestDb>>
  beforeAll(async () => {
    env = await openTestDb('postgres')
  })
  afterAll(async () => {
    await env?.drop()
  })

  const letter = (n: number, receivedAt: Date) => ({ source: 'alertmanager', stage: 'map', reason: `reason ${n}`, fingerprint: `fp-${n}`, body: { n }, receivedAt })
  const count = async (table: string) => Number((await env.db.query<{ c: string }>(`SELECT count(*) AS c FROM ${table}`)).rows[0]?.c)

  it('keeps at most deadLetterMaxCount dead letters, dropping the oldest first, and none older than maxAgeS', async () => {
    const store = createDbIngestStore(env.db, { deadLetterMaxCount: 3, maxAgeS: 3600 })
    const t0 = Date.parse('2026-05-01T10:00:00Z')
    for (let n = 1; n <= 5; n += 1) await store.addDeadLetter(letter(n, new Date(t0 + n * 1000)))
    expect(await count('api_ingest_dead_letters')).toBe(3)
    const kept = await store.listDeadLetters({ limit: 100 })
    expect(kept.map((d) => d.reason)).toEqual(['reason 5', 'reason 4', 'reason 3'])

    // Two hours later: everything before the last hour goes, whatever the count.
    await store.addDeadLetter(letter(6, new Date(t0 + 2 * 3600_000)))
    expect((await store.listDeadLetters({ limit: 100 })).map((d) => d.reason)).toEqual(['reason 6'])
  })

  it('forgets alerts already taken after maxAgeS', async () => {
    const store = createDbIngestStore(env.db, { deadLetterMaxCount: 3, maxAgeS: 3600 })
    const t0 = Date.parse('2026-05-02T10:00:00Z')
    const key = (n: number) => ({ fingerprint: `f${n}`, startsAt: '2026-05-02T09:00:00Z', status: 'firing' })
    await store.rememberAlert(key(1), null, new Date(t0))
    await store.rememberAlert(key(2), null, new Date(t0 + 1000))
    expect(await store.seenAlert(key(1))).toBeNull()
    await store.rememberAlert(key(3), null, new Date(t0 + 2 * 3600_000))
    expect(await store.seenAlert(key(1))).toBeUndefined()
    expect(await store.seenAlert(key(2))).toBeUndefined()
    expect(await store.seenAlert(key(3))).toBeNull()
  })
})
