import { futureTimeReason, type NotificationType } from '@lazarus/contracts'

/**
 * Whether a notification is accepted, and how: every acceptance rule of the api, as pure
 * functions over plain data. The store loads what they need (the host by name with its
 * segment, the host's stored notifications that could be the same report), `decide` answers,
 * and the store writes what was decided; routes turn a refusal into its HTTP status.
 *
 * The rules, in the order they are applied:
 * 1. future time: a `generated_time` more than `maxFutureSkewS` ahead of now is refused
 *    (`futureTimeReason` in `@lazarus/contracts`, the rule ingest applies too);
 * 2. unknown host: no host of that name is registered → refused;
 * 3. duplicate: the same host, type and payload stored with a `generated_time` within
 *    `duplicateIntervalS` of the new one's, before or after → refused (`isDuplicate`);
 * 4. maintenance: the host is on maintenance → accepted `ignored`, nothing published;
 * 5. disabled segment: the host's failover segment is disabled → accepted `ignored`;
 * 6. paused segment: accepted `new` and held (nothing published until the segment resumes);
 * 7. otherwise accepted `new`, and `notification.received.v1` is published.
 */

export interface AcceptSettings {
  /** Seconds either side of a report's `generated_time` in which the same report is a duplicate. */
  duplicateIntervalS: number
  /** Seconds a `generated_time` may lie ahead of now (clock skew). */
  maxFutureSkewS: number
}

/** A notification as posted, once its fields are valid. */
export interface NotificationDraft {
  type: NotificationType
  hostname: string
  generatedTime: Date
  payload: Record<string, unknown>
}

/** What the rules read of a failover segment. */
export interface SegmentFacts {
  name: string
  enabled: boolean
  paused: boolean
  pausedReason: string | null
}

/** What the rules read of a host (the api's `Host` is one). */
export interface HostFacts {
  uuid: string
  name: string
  onMaintenance: boolean
  segment: SegmentFacts
}

/** A notification already stored (or accepted earlier in the same batch) that may be the same report. */
export interface StoredReport {
  sourceHostUuid: string
  type: string
  payload: unknown
  generatedTime: Date
}

export type RefusalReason = 'future_time' | 'unknown_host' | 'duplicate'

export type AcceptDecision =
  | {
      outcome: 'accept'
      status: 'new' | 'ignored'
      /** Why it is ignored or held; null when it simply goes on. */
      message: string | null
      /** Accepted while its segment is paused: published when the segment resumes. */
      held: boolean
      /** Publish `notification.received.v1` now (through the outbox). */
      publish: boolean
    }
  | { outcome: 'refuse'; reason: RefusalReason; message: string }

/** Rule 1, alone: it needs no stored data, so the api applies it before any database work. */
export const refuseFutureTime = (n: Pick<NotificationDraft, 'generatedTime'>, now: Date, settings: Pick<AcceptSettings, 'maxFutureSkewS'>): AcceptDecision | undefined => {
  const ahead = futureTimeReason(n.generatedTime, now, settings.maxFutureSkewS)
  return ahead ? { outcome: 'refuse', reason: 'future_time', message: `Invalid input for field/attribute notification.generated_time: ${ahead}` } : undefined
}

/**
 * The duplicate window of a report: `generated_time` ± the detection interval, both ends
 * included. Two-sided (migration 005's rule): a stored report dated far ahead does not
 * suppress every real one that comes after it, as Masakari's one-sided window would.
 */
export const duplicateWindow = (generatedTime: Date, duplicateIntervalS: number): { from: Date; to: Date } => ({
  from: new Date(generatedTime.getTime() - duplicateIntervalS * 1000),
  to: new Date(generatedTime.getTime() + duplicateIntervalS * 1000),
})

/** Rule 3: `stored` is the same report as `n` from `host` (same host, type and payload, within the window). */
export const isDuplicate = (stored: StoredReport, n: NotificationDraft, host: Pick<HostFacts, 'uuid'>, duplicateIntervalS: number): boolean => {
  if (stored.sourceHostUuid !== host.uuid || stored.type !== n.type) return false
  const { from, to } = duplicateWindow(n.generatedTime, duplicateIntervalS)
  const t = stored.generatedTime.getTime()
  return t >= from.getTime() && t <= to.getTime() && sameJson(stored.payload, n.payload)
}

/**
 * Decide one notification. `host`: the host registered under its name (undefined when none),
 * `recent`: the stored notifications of that host that may be the same report (at least those
 * of the same type and payload within `duplicateWindow`; others are ignored).
 */
export const decide = (n: NotificationDraft, host: HostFacts | undefined, recent: readonly StoredReport[], now: Date, settings: AcceptSettings): AcceptDecision => {
  const future = refuseFutureTime(n, now, settings)
  if (future) return future
  if (!host) return { outcome: 'refuse', reason: 'unknown_host', message: `Host with name ${n.hostname} could not be found.` }
  if (recent.some((s) => isDuplicate(s, n, host, settings.duplicateIntervalS))) {
    return { outcome: 'refuse', reason: 'duplicate', message: `Notification received from host ${n.hostname} of type ${n.type} is duplicate.` }
  }
  if (host.onMaintenance) {
    const message = `Notification received from host ${host.name} of type '${n.type}' is ignored as the host is already under maintenance.`
    return { outcome: 'accept', status: 'ignored', message, held: false, publish: false }
  }
  if (!host.segment.enabled) {
    const message = `Notification received from host ${host.name} of type '${n.type}' is ignored as failover segment ${host.segment.name} is disabled.`
    return { outcome: 'accept', status: 'ignored', message, held: false, publish: false }
  }
  const held = heldReason(host.segment)
  if (held) return { outcome: 'accept', status: 'new', message: held, held: true, publish: false }
  return { outcome: 'accept', status: 'new', message: null, held: false, publish: true }
}

/**
 * Decide a batch, in order, each as if it came alone after the ones before it: a notification
 * accepted earlier in the batch counts as stored for the later ones (rule 3).
 */
export const decideAll = (
  items: readonly NotificationDraft[],
  hostOf: (hostname: string) => HostFacts | undefined,
  recentOf: (index: number) => readonly StoredReport[],
  now: Date,
  settings: AcceptSettings,
): AcceptDecision[] => {
  const acceptedByHost = new Map<string, StoredReport[]>()
  return items.map((n, i) => {
    const host = hostOf(n.hostname)
    const earlier = host ? (acceptedByHost.get(host.uuid) ?? []) : []
    const recent = earlier.length > 0 ? [...recentOf(i), ...earlier] : recentOf(i)
    const d = decide(n, host, recent, now, settings)
    if (d.outcome === 'accept' && host) {
      const report = { sourceHostUuid: host.uuid, type: n.type, payload: n.payload, generatedTime: n.generatedTime }
      acceptedByHost.set(host.uuid, [...earlier, report])
    }
    return d
  })
}

/** Why a notification of this segment is held, or undefined when it is not paused. Also used on retry. */
export const heldReason = (segment: Pick<SegmentFacts, 'name' | 'paused' | 'pausedReason'>): string | undefined =>
  segment.paused
    ? `Held: failover segment ${segment.name} is paused${segment.pausedReason ? ` (${segment.pausedReason})` : ''}; nothing is fenced or evacuated until it resumes.`
    : undefined

/** Equal as JSON values (PostgreSQL's jsonb equality: key order does not matter). */
const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]))
  }
  const ak = Object.keys(a)
  const bo = b as Record<string, unknown>
  if (ak.length !== Object.keys(bo).length) return false
  return ak.every((k) => Object.hasOwn(bo, k) && sameJson((a as Record<string, unknown>)[k], bo[k]))
}
