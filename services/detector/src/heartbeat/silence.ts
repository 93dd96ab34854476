import { once, verdictFor, type HostEntry, type Incident } from './host-state.js'
import { stormCheck } from './storm-guard.js'
import type { Verdict, VerdictAction } from './verdict.js'

/*
 * The decision on a silent host, by its segment's policy: wait for the storage heartbeat,
 * find it isolated (still writing its storage heartbeat), failed (silence plus the evidence
 * the policy asks for: peers or a monitor's notification) or unconfirmed; and a failure or
 * isolation that means fencing passes the storm guard first (declare).
 */

export interface SilenceContext {
  /** The monitor can read storage heartbeat files. */
  storage: boolean
  /** How many live peers have reported the host unreachable long enough by `now` (peer-reports.ts). */
  peersConfirming(host: string, now: number): number
}

/** Decide what can be decided about a silent host now; verdicts go to `out`. */
export const evaluateSilent = (ctx: SilenceContext, e: HostEntry, now: number, out: Verdict[]): void => {
  const inc = e.incident
  if (!inc || inc.closed || e.state !== 'silent') return
  const p = e.seg.policy
  if (!e.seen) {
    once(e, inc, 'unconfirmed', 'alert', now, out, `no heartbeat from ${e.host} since the monitor started; not fenced without having been seen alive`)
    return
  }
  if (ctx.storage && p.useStorageHeartbeat) {
    const r = e.storage
    if (!r || r.readAt < inc.since) {
      if (now < inc.since + p.storageWaitMs) return
    } else if (r.fresh) {
      if (!inc.emitted.has('isolated')) {
        const reason = `${e.host} is silent on NATS but still writes its storage heartbeat: isolated, not dead`
        declare(e, inc, 'isolated', p.isolationResponse, reason, now, out, r.at === undefined ? {} : { storageWrittenAt: r.at })
      }
      return
    }
  }
  const ev = p.evidence
  let confirmed = true
  let because = `no heartbeat for ${now - e.lastSeen} ms`
  if (e.skew) because += ` (neither plausible nor refused for clock skew; its last ones were ${e.skew.offsetMs} ms off)`
  const evidence: NonNullable<Verdict['evidence']> = {}
  if (ev.kind === 'silence+peers') {
    const n = ctx.peersConfirming(e.host, now)
    evidence.peersConfirming = n
    confirmed = n >= ev.peers
    because += `, ${n} of ${ev.peers} required peers cannot reach it either`
  } else if (ev.kind === 'silence+notification') {
    const t = e.notifiedAt
    confirmed = t !== undefined && Math.abs(now - t) <= ev.withinMs
    if (t !== undefined) evidence.notifiedAt = t
    because += confirmed ? ', and a monitor reported it down' : ', and no monitor reported it down'
  }
  if (confirmed) {
    declare(e, inc, 'failed', 'fence', `${e.host} failed: ${because}`, now, out, evidence)
  } else if (now >= inc.since + p.evidenceWaitMs) {
    once(e, inc, 'unconfirmed', 'alert', now, out, `${e.host} is silent but not confirmed dead: ${because}`)
  }
}

/**
 * Emit a failed/isolated verdict. A fence first passes the storm guard (which may pause
 * the segment); in a paused segment it becomes a held alert. Either way the incident is
 * closed: nothing more until the host recovers.
 */
export const declare = (
  e: HostEntry,
  inc: Incident,
  kind: 'failed' | 'isolated',
  action: VerdictAction,
  reason: string,
  now: number,
  out: Verdict[],
  evidence: NonNullable<Verdict['evidence']>,
): void => {
  if (inc.emitted.has(kind) || inc.closed) return
  const seg = e.seg
  if (action !== 'fence') {
    const v = verdictFor(e, inc, kind, action, now, reason)
    v.evidence = evidence
    out.push(v)
    return
  }
  if (!seg.paused) {
    const storm = stormCheck(seg, now)
    if (storm) {
      seg.paused = { at: now, reason: storm.reason, by: 'storm' }
      out.push({ kind: 'storm', action: 'alert', segment: seg.id, at: now, reason: storm.reason, storm: storm.counts })
    }
  }
  inc.closed = true
  seg.silent.delete(e)
  if (e.state === 'silent') e.state = 'closed'
  if (seg.paused) {
    const v = verdictFor(e, inc, kind, 'alert', now, `${reason}; not fenced: automatic fencing in segment ${seg.name} is paused (${seg.paused.reason})`)
    v.held = true
    v.heldBy = seg.paused.by
    v.evidence = evidence
    out.push(v)
    return
  }
  seg.fences.push({ host: e.host, at: now })
  const v = verdictFor(e, inc, kind, 'fence', now, reason)
  v.evidence = evidence
  out.push(v)
}
