import type { Migration } from '@lazarus/openstack'
import { describe, expect, it } from 'vitest'
import { isEvacuationSince, latestUpdateMs, novaTimeMs, quickestEvacuationMs, serversChangedSinceMs } from './evacuation-migrations.js'

const migration = (o: Partial<Migration>): Migration => ({
  id: 1,
  instanceUuid: 'i-1',
  sourceCompute: 'compute1',
  destCompute: 'compute2',
  status: 'done',
  migrationType: 'evacuation',
  createdAt: '2026-12-03T06:00:00.250000',
  updatedAt: '2026-12-03T06:00:01.500000',
  ...o,
})
const since = Date.UTC(2026, 11, 3, 5, 50)

describe('quickestEvacuationMs', () => {
  it('is the shortest created-to-updated time of the evacuations that ended well', () => {
    const list = [
      migration({ id: 1 }),
      migration({ id: 2, createdAt: '2026-12-03T06:00:00.100000', updatedAt: '2026-12-03T06:00:01.050000' }),
      migration({ id: 3, status: 'running', updatedAt: '2026-12-03T06:00:00.200000' }),
      // An evacuation Nova gave up on ends quickly and says nothing of how long one takes.
      migration({ id: 4, status: 'error', updatedAt: '2026-12-03T06:00:00.300000' }),
    ]
    expect(quickestEvacuationMs(list, since)).toBe(950)
  })

  it('is 0 with nothing ended, and leaves out evacuations created before `sinceMs`', () => {
    expect(quickestEvacuationMs([migration({ status: 'accepted', updatedAt: null })], since)).toBe(0)
    expect(quickestEvacuationMs([migration({})], Date.UTC(2026, 11, 3, 6, 0, 1))).toBe(0)
  })

  it('counts a record kept to the whole second a second shorter (never longer than it took)', () => {
    const coarse = migration({ createdAt: '2026-12-03T06:00:00.000000', updatedAt: '2026-12-03T06:00:03.000000' })
    expect(quickestEvacuationMs([coarse], since)).toBe(2000)
    expect(quickestEvacuationMs([migration({ createdAt: '2026-12-03T06:00:00.000000', updatedAt: '2026-12-03T06:00:01.000000' })], since)).toBe(0)
  })
})

describe("Nova's timestamps", () => {
  it('are read as UTC whether or not they carry a zone', () => {
    expect(novaTimeMs('2026-12-03T06:00:00.250000')).toBe(Date.UTC(2026, 11, 3, 6, 0, 0, 250))
    expect(novaTimeMs('2026-12-03T06:00:00Z')).toBe(Date.UTC(2026, 11, 3, 6))
    expect(novaTimeMs('2026-12-03T07:00:00+01:00')).toBe(Date.UTC(2026, 11, 3, 6))
  })

  it('tell an evacuation started by a call from an older one of the same instance', () => {
    const sentAt = Date.UTC(2026, 11, 3, 6, 0, 0)
    expect(isEvacuationSince(migration({}), { instanceId: 'i-1', sourceHost: 'compute1', sentAt })).toBe(true)
    expect(isEvacuationSince(migration({ createdAt: '2026-12-03T05:50:00.000000' }), { instanceId: 'i-1', sourceHost: 'compute1', sentAt })).toBe(false)
    expect(isEvacuationSince(migration({}), { instanceId: 'i-2', sourceHost: 'compute1', sentAt })).toBe(false)
  })
})

describe('latestUpdateMs', () => {
  it("is the latest update among the migrations by Nova's clock, 0 with none", () => {
    expect(latestUpdateMs([migration({}), migration({ updatedAt: '2026-12-03T06:00:02.000000' }), migration({ updatedAt: null })])).toBe(Date.UTC(2026, 11, 3, 6, 0, 2))
    expect(latestUpdateMs([migration({ updatedAt: null })])).toBe(0)
    expect(latestUpdateMs([])).toBe(0)
  })
})

describe('serversChangedSinceMs', () => {
  it('is two seconds before the earliest end among the evacuations that ended together', () => {
    const ended = [migration({ id: 1, updatedAt: '2026-12-03T06:00:03.000000' }), migration({ id: 2, updatedAt: '2026-12-03T06:00:02.000000' })]
    expect(serversChangedSinceMs(ended)).toBe(Date.UTC(2026, 11, 3, 6, 0, 0))
  })

  it('is undefined when one has no time Nova gave, or one that does not parse, or there is none', () => {
    expect(serversChangedSinceMs([migration({ id: 1 }), migration({ id: 2, updatedAt: null })])).toBeUndefined()
    expect(serversChangedSinceMs([migration({ updatedAt: 'yesterday' })])).toBeUndefined()
    expect(serversChangedSinceMs([])).toBeUndefined()
  })
})
