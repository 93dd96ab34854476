import { describe, expect, it } from 'vitest'
import { claimTakeover, ownerActsUntil, ownerMayAct } from './claim-takeover.js'

const now = new Date('2026-01-01T00:00:00Z')
const lease = (leftMs: number) => new Date(now.getTime() + leftMs)

describe('when a fence claim may be taken over', () => {
  it('is free once its lease lapsed, whatever its owner', () => {
    expect(claimTakeover({ leaseUntil: lease(0), now, ownerAliveMs: 1_500 })).toEqual({ kind: 'free', why: 'lease_lapsed' })
    expect(claimTakeover({ leaseUntil: lease(-1), now, ownerAliveMs: undefined })).toEqual({ kind: 'free', why: 'lease_lapsed' })
  })

  it('is free before its lease ends when its owner is known dead (its alive_until passed)', () => {
    // Given a claim with 28 s of lease left whose owner stopped beating 10 ms past its alive_until
    expect(claimTakeover({ leaseUntil: lease(28_000), now, ownerAliveMs: -10 })).toEqual({ kind: 'free', why: 'owner_dead' })
  })

  it('is held while its owner still beats, however slow its fence', () => {
    // Given an owner whose last beat leaves it alive 1 ms more, with the lease nearly out: held
    expect(claimTakeover({ leaseUntil: lease(5), now, ownerAliveMs: 1 })).toEqual({ kind: 'held' })
    expect(claimTakeover({ leaseUntil: lease(28_000), now, ownerAliveMs: 0 })).toEqual({ kind: 'held' })
  })

  it('is held for its lease when its owner does not beat (an earlier build, or a row already forgotten)', () => {
    expect(claimTakeover({ leaseUntil: lease(28_000), now, ownerAliveMs: undefined })).toEqual({ kind: 'held' })
  })
})

describe('how long an owner may act on its claims', () => {
  const v = { deadAfterMs: 2_000, safetyMs: 500 }

  it('acts until dead-after minus the safety margin past its last successful beat', () => {
    expect(ownerActsUntil(10_000, 2_000, 500)).toBe(11_500)
    expect(ownerMayAct({ ...v, lastBeatSentAt: 10_000, now: 11_499 })).toBe(true)
    // When its beats stopped reaching the ledger for 1.5 s: it stops, 0.5 s before anyone may see it dead
    expect(ownerMayAct({ ...v, lastBeatSentAt: 10_000, now: 11_500 })).toBe(false)
  })

  it('never acts before its first beat', () => {
    expect(ownerMayAct({ ...v, lastBeatSentAt: undefined, now: 0 })).toBe(false)
  })
})
