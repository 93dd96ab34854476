import { describe, expect, it } from 'vitest'
import { decideFeed, type FeedInput } from './feed-rule.js'

const T0 = Date.UTC(2026, 0, 1)
const TIMEOUT = 30_000

/** Given an agent armed at T0 with one peer configured, with the overrides. */
const given = (over: Partial<FeedInput> = {}): FeedInput => ({
  now: T0,
  armedAt: T0,
  controlPlaneOkAt: undefined,
  peerOkAt: undefined,
  peersConfigured: true,
  isolationTimeoutMs: TIMEOUT,
  starving: false,
  ...over,
})

describe('decideFeed: the self-fencing rule', () => {
  it('feeds a freshly armed agent for one whole timeout, even before anything was reached', () => {
    expect(decideFeed(given({ now: T0 + TIMEOUT }))).toEqual({ feed: true, reason: 'control-plane-reachable', controlPlaneLostMs: TIMEOUT, peersLostMs: TIMEOUT })
    expect(decideFeed(given({ now: T0 + TIMEOUT + 1 }))).toMatchObject({ feed: false, reason: 'isolated' })
  })

  it('feeds while the control plane was reached within the timeout, whatever the peers', () => {
    const d = decideFeed(given({ now: T0 + 100_000, controlPlaneOkAt: T0 + 100_000 - TIMEOUT, peerOkAt: undefined }))
    expect(d).toEqual({ feed: true, reason: 'control-plane-reachable', controlPlaneLostMs: TIMEOUT, peersLostMs: 100_000 })
  })

  it('keeps feeding when the control plane is lost past the timeout but a peer answers', () => {
    const d = decideFeed(given({ now: T0 + 100_000, controlPlaneOkAt: T0 + 10_000, peerOkAt: T0 + 99_000 }))
    expect(d).toEqual({ feed: true, reason: 'peers-reachable', controlPlaneLostMs: 90_000, peersLostMs: 1000 })
  })

  it('starves once the control plane and every peer are lost past the timeout', () => {
    const d = decideFeed(given({ now: T0 + 100_000, controlPlaneOkAt: T0 + 60_000, peerOkAt: T0 + 69_999 }))
    expect(d).toEqual({ feed: false, reason: 'isolated', controlPlaneLostMs: 40_000, peersLostMs: 30_001 })
  })

  it('does not starve while the last peer answer is within the timeout, even if the control plane went first', () => {
    expect(decideFeed(given({ now: T0 + 100_000, controlPlaneOkAt: T0 + 1, peerOkAt: T0 + 70_000 }))).toMatchObject({ feed: true, reason: 'peers-reachable' })
  })

  it('without peers configured, decides on the control plane alone', () => {
    const peerless = { peersConfigured: false, peerOkAt: undefined }
    expect(decideFeed(given({ ...peerless, now: T0 + 50_000, controlPlaneOkAt: T0 + 20_000 }))).toEqual({
      feed: true,
      reason: 'control-plane-reachable',
      controlPlaneLostMs: TIMEOUT,
      peersLostMs: undefined,
    })
    expect(decideFeed(given({ ...peerless, now: T0 + 50_001, controlPlaneOkAt: T0 + 20_000 }))).toEqual({
      feed: false,
      reason: 'control-plane-lost',
      controlPlaneLostMs: TIMEOUT + 1,
      peersLostMs: undefined,
    })
  })

  it('never feeds again once starving, even when the control plane and peers are back', () => {
    const d = decideFeed(given({ now: T0 + 100_000, controlPlaneOkAt: T0 + 100_000, peerOkAt: T0 + 100_000, starving: true }))
    expect(d).toMatchObject({ feed: false, reason: 'already-starving' })
  })

  it('counts a reach before the device was armed as the arming time (a restarted agent gets a whole timeout)', () => {
    const d = decideFeed(given({ armedAt: T0 + 50_000, now: T0 + 60_000, controlPlaneOkAt: T0, peerOkAt: T0 }))
    expect(d).toEqual({ feed: true, reason: 'control-plane-reachable', controlPlaneLostMs: 10_000, peersLostMs: 10_000 })
  })

  it('does not count a clock step backwards as a negative loss', () => {
    expect(decideFeed(given({ now: T0 - 5000, controlPlaneOkAt: T0 }))).toMatchObject({ feed: true, controlPlaneLostMs: 0, peersLostMs: 0 })
  })
})
