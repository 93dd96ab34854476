import { describe, expect, it } from 'vitest'
import { decide, decideAll, duplicateWindow, isDuplicate, refuseFutureTime, type HostFacts, type NotificationDraft, type StoredReport } from './accept.js'

const settings = { duplicateIntervalS: 180, maxFutureSkewS: 300 }
const now = new Date('2026-12-03T12:00:00.000Z')
const at = (secondsFromNow: number) => new Date(now.getTime() + secondsFromNow * 1000)

const host = (over: Partial<HostFacts> = {}, segment: Partial<HostFacts['segment']> = {}): HostFacts => ({
  uuid: '11111111-1111-4111-8111-111111111111',
  name: 'compute-1',
  onMaintenance: false,
  ...over,
  segment: { name: 'seg-1', enabled: true, paused: false, pausedReason: null, ...segment },
})

const report = (over: Partial<NotificationDraft> = {}): NotificationDraft => ({
  type: 'COMPUTE_HOST',
  hostname: 'compute-1',
  generatedTime: now,
  payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
  ...over,
})

const stored = (n: NotificationDraft, over: Partial<StoredReport> = {}): StoredReport => ({
  sourceHostUuid: host().uuid,
  type: n.type,
  payload: n.payload,
  generatedTime: n.generatedTime,
  ...over,
})

describe('accepting a notification (domain/accept.ts)', () => {
  describe('rule 1: a generated_time too far ahead', () => {
    it('given a report dated beyond the allowed skew, when decided, then it is refused as future_time, naming the field', () => {
      const d = decide(report({ generatedTime: at(301) }), host(), [], now, settings)
      expect(d).toMatchObject({ outcome: 'refuse', reason: 'future_time' })
      expect(d.outcome === 'refuse' && d.message).toMatch(/^Invalid input for field\/attribute notification\.generated_time: /)
    })

    it('given a report dated within the skew, or in the past, when checked alone, then nothing refuses it', () => {
      expect(refuseFutureTime(report({ generatedTime: at(300) }), now, settings)).toBeUndefined()
      expect(refuseFutureTime(report({ generatedTime: at(-86_400) }), now, settings)).toBeUndefined()
    })

    it('given a report from an unknown host dated too far ahead, when decided, then the time is what refuses it (checked first)', () => {
      expect(decide(report({ generatedTime: at(3600) }), undefined, [], now, settings)).toMatchObject({ reason: 'future_time' })
    })
  })

  describe('rule 2: an unknown host', () => {
    it("given no host of that name, when decided, then it is refused as unknown_host with Masakari's message", () => {
      expect(decide(report({ hostname: 'nowhere' }), undefined, [], now, settings)).toEqual({
        outcome: 'refuse',
        reason: 'unknown_host',
        message: 'Host with name nowhere could not be found.',
      })
    })
  })

  describe('rule 3: a duplicate (two-sided window)', () => {
    const n = report()
    it('given the same report stored just before or just after, within the interval, when decided, then it is refused as duplicate', () => {
      for (const s of [-180, -1, 0, 1, 180]) {
        const d = decide(n, host(), [stored(n, { generatedTime: at(s) })], now, settings)
        expect(d, `stored at ${s} s`).toEqual({
          outcome: 'refuse',
          reason: 'duplicate',
          message: 'Notification received from host compute-1 of type COMPUTE_HOST is duplicate.',
        })
      }
    })

    it('given the same report stored outside the interval, on either side, when decided, then it is accepted', () => {
      for (const s of [-181, 181, 86_400]) {
        expect(decide(n, host(), [stored(n, { generatedTime: at(s) })], now, settings).outcome, `stored at ${s} s`).toBe('accept')
      }
    })

    it('given a stored report of another type, payload or host (a host registered again under the name), when decided, then it is accepted', () => {
      expect(decide(n, host(), [stored(n, { type: 'VM' })], now, settings).outcome).toBe('accept')
      expect(decide(n, host(), [stored(n, { payload: { ...n.payload, event: 'STARTED' } })], now, settings).outcome).toBe('accept')
      expect(decide(n, host(), [stored(n, { sourceHostUuid: '22222222-2222-4222-8222-222222222222' })], now, settings).outcome).toBe('accept')
    })

    it('given the same payload with its keys in another order, when decided, then it is the same report (jsonb equality)', () => {
      const reordered = { cluster_status: 'OFFLINE', host_status: 'NORMAL', event: 'STOPPED' }
      expect(isDuplicate(stored(n, { payload: reordered }), n, host(), 180)).toBe(true)
    })

    it('given a host on maintenance and the same report stored, when decided, then the duplicate rule comes first (409, not ignored)', () => {
      expect(decide(n, host({ onMaintenance: true }), [stored(n)], now, settings)).toMatchObject({ reason: 'duplicate' })
    })

    it("the window is the report's time ± the interval, both ends included", () => {
      expect(duplicateWindow(now, 180)).toEqual({ from: at(-180), to: at(180) })
    })
  })

  describe('rules 4 and 5: ignored (maintenance, disabled segment)', () => {
    it('given a host on maintenance, when decided, then it is accepted ignored, with why, and nothing is published', () => {
      expect(decide(report(), host({ onMaintenance: true }), [], now, settings)).toEqual({
        outcome: 'accept',
        status: 'ignored',
        message: "Notification received from host compute-1 of type 'COMPUTE_HOST' is ignored as the host is already under maintenance.",
        held: false,
        publish: false,
      })
    })

    it('given a disabled segment, when decided, then it is accepted ignored, naming the segment', () => {
      expect(decide(report(), host({}, { enabled: false }), [], now, settings)).toEqual({
        outcome: 'accept',
        status: 'ignored',
        message: "Notification received from host compute-1 of type 'COMPUTE_HOST' is ignored as failover segment seg-1 is disabled.",
        held: false,
        publish: false,
      })
    })

    it('given a host on maintenance in a paused segment, when decided, then it is ignored, not held', () => {
      expect(decide(report(), host({ onMaintenance: true }, { paused: true }), [], now, settings)).toMatchObject({ status: 'ignored', held: false })
    })
  })

  describe('rule 6: a paused segment', () => {
    it('given a paused segment, when decided, then it is accepted new and held, with the reason, and nothing is published now', () => {
      expect(decide(report(), host({}, { paused: true, pausedReason: 'storage maintenance' }), [], now, settings)).toEqual({
        outcome: 'accept',
        status: 'new',
        message: 'Held: failover segment seg-1 is paused (storage maintenance); nothing is fenced or evacuated until it resumes.',
        held: true,
        publish: false,
      })
    })
  })

  describe('rule 7: otherwise', () => {
    it('given a known host, no duplicate, nothing paused or on maintenance, when decided, then it is accepted new and published', () => {
      expect(decide(report(), host(), [], now, settings)).toEqual({ outcome: 'accept', status: 'new', message: null, held: false, publish: true })
    })
  })

  describe('a batch', () => {
    it('given the same report twice and another in between, when decided together, then each is answered as if it came after the ones before it', () => {
      const n = report()
      const other = report({ type: 'VM', payload: { event: 'LIFECYCLE', instance_uuid: 'i-1', vir_domain_event: 'STOPPED_FAILED' } })
      const decisions = decideAll(
        [n, other, n, report({ hostname: 'nowhere' })],
        (name) => (name === 'compute-1' ? host() : undefined),
        () => [],
        now,
        settings,
      )
      expect(decisions.map((d) => (d.outcome === 'accept' ? d.status : d.reason))).toEqual(['new', 'new', 'duplicate', 'unknown_host'])
    })

    it('given an earlier report of the batch that was ignored, when the same comes again, then it is a duplicate (an ignored one is stored too)', () => {
      const n = report()
      const decisions = decideAll(
        [n, n],
        () => host({ onMaintenance: true }),
        () => [],
        now,
        settings,
      )
      expect(decisions.map((d) => (d.outcome === 'accept' ? d.status : d.reason))).toEqual(['ignored', 'duplicate'])
    })

    it('given an earlier refused report of the batch, when the same comes again, then the refusal does not count as stored', () => {
      const n = report()
      const recent = [stored(n)]
      const decisions = decideAll(
        [n, { ...n, generatedTime: at(-200) }],
        () => host(),
        (i) => (i === 0 ? recent : []),
        now,
        settings,
      )
      expect(decisions.map((d) => (d.outcome === 'accept' ? d.status : d.reason))).toEqual(['duplicate', 'new'])
    })
  })
})
