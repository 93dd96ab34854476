import { describe, expect, it } from 'vitest'
import { decideLeaseTakeover, type LeaseTakeoverView } from './lease-takeover.js'

const me = { replica: 'detector-b', boot: 'b-1' }
const view = (over: Partial<LeaseTakeoverView> = {}): LeaseTakeoverView => ({
  me,
  lease: { holder: 'detector-a', boot: 'a-1', state: 'claimed', ageMs: 100 },
  holderBeat: { boot: 'a-1', ageMs: 500 },
  deadAfterMs: 3000,
  staleMs: 20_000,
  ...over,
})

describe('whether a replica may take over a fence lease', () => {
  it('given no lease (released, or past the TTL), then it is done', () => {
    expect(decideLeaseTakeover(view({ lease: undefined }))).toEqual({ kind: 'done', why: 'released' })
  })

  it("given a lease older than the host's silence (an earlier failure; the host was heard alive since), then take it over, completed or not, even its own", () => {
    const done = { holder: 'detector-b', boot: 'b-1', state: 'done' as const, ageMs: 35_000 }
    expect(decideLeaseTakeover(view({ lease: done, silentForMs: 2100 }))).toEqual({ kind: 'take-over', why: 'earlier-incident' })
    expect(decideLeaseTakeover(view({ lease: { ...done, holder: 'detector-a', boot: 'a-1', state: 'claimed' }, silentForMs: 2100 }))).toEqual({
      kind: 'take-over',
      why: 'earlier-incident',
    })
  })

  it('given a lease taken for this failure (younger than the silence, within the clock margin), then the usual rules hold', () => {
    const done = { holder: 'detector-a', boot: 'a-1', state: 'done' as const, ageMs: 300 }
    expect(decideLeaseTakeover(view({ lease: done, silentForMs: 2300 }))).toEqual({ kind: 'done', why: 'completed' })
    expect(decideLeaseTakeover(view({ lease: { ...done, ageMs: 3300 }, silentForMs: 2300 }))).toEqual({ kind: 'done', why: 'completed' })
    expect(decideLeaseTakeover(view({ lease: { ...done, state: 'claimed' }, silentForMs: 2300 }))).toEqual({ kind: 'wait', why: 'holder-alive' })
  })

  it('given a completed lease, then it is done, whatever its holder', () => {
    expect(decideLeaseTakeover(view({ lease: { holder: 'detector-a', boot: 'a-1', state: 'done', ageMs: 60_000 }, holderBeat: undefined }))).toEqual({
      kind: 'done',
      why: 'completed',
    })
  })

  it('given a lease this very run claimed, then it is done (this run reports it)', () => {
    expect(decideLeaseTakeover(view({ lease: { holder: 'detector-b', boot: 'b-1', state: 'claimed', ageMs: 60_000 } }))).toEqual({ kind: 'done', why: 'mine' })
  })

  it('given a holder that beats, when its lease is young, then wait, however slow it is', () => {
    expect(decideLeaseTakeover(view({ holderBeat: { boot: 'a-1', ageMs: 2999 } }))).toEqual({ kind: 'wait', why: 'holder-alive' })
    expect(decideLeaseTakeover(view({ lease: { holder: 'detector-a', boot: 'a-1', state: 'claimed', ageMs: 19_999 } }))).toEqual({ kind: 'wait', why: 'holder-alive' })
  })

  it('given a holder that beats, when its lease is LEASE_STALE_MS old and not completed, then take it over', () => {
    expect(decideLeaseTakeover(view({ lease: { holder: 'detector-a', boot: 'a-1', state: 'claimed', ageMs: 20_000 } }))).toEqual({ kind: 'take-over', why: 'stale' })
  })

  it('given a holder whose beat stopped for dead-after, then take over at once', () => {
    expect(decideLeaseTakeover(view({ holderBeat: { boot: 'a-1', ageMs: 3000 } }))).toEqual({ kind: 'take-over', why: 'holder-dead' })
  })

  it('given a holder whose replica beats with another boot (it restarted), then take over at once', () => {
    expect(decideLeaseTakeover(view({ holderBeat: { boot: 'a-2', ageMs: 10 } }))).toEqual({ kind: 'take-over', why: 'holder-restarted' })
  })

  it("given this replica's previous run as the holder, then take over at once (its key beats with this run's boot)", () => {
    const lease = { holder: 'detector-b', boot: 'b-0', state: 'claimed' as const, ageMs: 100 }
    expect(decideLeaseTakeover(view({ lease, holderBeat: { boot: 'b-1', ageMs: 10 } }))).toEqual({ kind: 'take-over', why: 'holder-restarted' })
  })

  it('given a holder that has no beat (stopped cleanly, or its key expired), then take over at once', () => {
    expect(decideLeaseTakeover(view({ holderBeat: undefined }))).toEqual({ kind: 'take-over', why: 'holder-gone' })
  })

  it('given a lease from a build without replica beats (no boot), then wait until it is stale', () => {
    const old = (ageMs: number) => ({ holder: 'detector-a', state: 'claimed' as const, ageMs })
    expect(decideLeaseTakeover(view({ lease: old(19_999), holderBeat: undefined }))).toEqual({ kind: 'wait', why: 'holder-unknown' })
    expect(decideLeaseTakeover(view({ lease: old(20_000), holderBeat: undefined }))).toEqual({ kind: 'take-over', why: 'stale' })
  })

  describe('given a lease whose value does not parse (holder unknown: forged, a bug, another build)', () => {
    const unknown = (ageMs: number) => ({ holder: undefined, state: 'claimed' as const, ageMs })

    it('when it is young, then wait: never taken over at once, never taken for no lease', () => {
      expect(decideLeaseTakeover(view({ lease: unknown(0), holderBeat: undefined }))).toEqual({ kind: 'wait', why: 'holder-unknown' })
      expect(decideLeaseTakeover(view({ lease: unknown(19_999), holderBeat: undefined }))).toEqual({ kind: 'wait', why: 'holder-unknown' })
    })

    it('when it is LEASE_STALE_MS old, then take it over', () => {
      expect(decideLeaseTakeover(view({ lease: unknown(20_000), holderBeat: undefined }))).toEqual({ kind: 'take-over', why: 'stale' })
    })

    it('whatever else the view says of it (a boot, a beat, a state), then only its age counts', () => {
      // A dead or missing beat would take a known holder's lease over at once; a done state would end the wait; neither is known here.
      for (const holderBeat of [undefined, { boot: 'a-1', ageMs: 60_000 }, { boot: 'a-2', ageMs: 10 }]) {
        for (const state of ['claimed', 'done'] as const) {
          const lease = { holder: undefined, boot: 'a-1', state, ageMs: 100 }
          expect(decideLeaseTakeover(view({ lease, holderBeat }))).toEqual({ kind: 'wait', why: 'holder-unknown' })
          expect(decideLeaseTakeover(view({ lease: { ...lease, ageMs: 20_000 }, holderBeat }))).toEqual({ kind: 'take-over', why: 'stale' })
        }
      }
    })

    it("when it is older than the host's silence, then it is an earlier incident's, as any lease", () => {
      expect(decideLeaseTakeover(view({ lease: unknown(3200), silentForMs: 2100, holderBeat: undefined }))).toEqual({ kind: 'take-over', why: 'earlier-incident' })
      expect(decideLeaseTakeover(view({ lease: unknown(3000), silentForMs: 2100, holderBeat: undefined }))).toEqual({ kind: 'wait', why: 'holder-unknown' })
    })
  })
})
