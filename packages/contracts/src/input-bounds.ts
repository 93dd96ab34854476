import * as z from 'zod'

/**
 * Plausibility rules every way into Lazarus applies to what a monitor reports: the api's
 * v1 notifications and Alertmanager webhook, and the ingest service's Kafka and JetStream
 * sources. One file, so that a report refused on one path is refused on every other.
 */

/** Seconds a report's `generated_time` may lie ahead of the receiver's clock (clock skew). */
export const DEFAULT_MAX_FUTURE_SKEW_S = 300

/**
 * Why a report generated at `time` is not believed at `now`, or undefined when it is. A
 * time far ahead is refused: stored, it would be "the same report" as every real one that
 * follows and keep them out as duplicates. A time in the past is fine: the duplicate window
 * is two-sided, so an old report matches only reports near its own time.
 */
export const futureTimeReason = (time: Date, now: Date, maxFutureSkewS: number): string | undefined => {
  const aheadMs = time.getTime() - now.getTime()
  if (aheadMs <= maxFutureSkewS * 1000) return undefined
  return `${time.toISOString()} is ${Math.ceil(aheadMs / 1000)} s ahead of the receiver's clock (${now.toISOString()}); at most ${maxFutureSkewS} s of clock skew is allowed`
}

// A lone UTF-16 surrogate: JSON text can carry one (`"\ud800"`), PostgreSQL cannot store it.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * Why `text` cannot be kept as PostgreSQL text or jsonb (which refuse NUL and, in JSON, a
 * lone surrogate), or undefined when it can. Refused at the door, such text is a 400 that
 * names its field instead of a failed statement (a 500) deep in the store.
 */
export const unstorableTextReason = (text: string): string | undefined => {
  if (text.includes('\u0000')) return 'must not contain a NUL character'
  if (LONE_SURROGATE.test(text)) return 'must not contain a lone UTF-16 surrogate (invalid Unicode)'
  return undefined
}

/** A string of at most `max` characters that PostgreSQL can store (no NUL, valid Unicode). */
export const storableText = (max: number) =>
  z
    .string()
    .max(max)
    .superRefine((value, ctx) => {
      const reason = unstorableTextReason(value)
      if (reason) ctx.addIssue({ code: 'custom', message: reason })
    })

/** Lengths of the free text Lazarus takes (Masakari's where it has one; see the api README). */
export const TEXT_LIMITS = {
  /** Names: segments, hosts, service types, host types, payload keys and values (Masakari: 255). */
  name: 255,
  /** A description (Masakari: 255). */
  description: 255,
  /** A host's control_attributes (Masakari: unbounded text) and a process name. */
  longText: 4096,
} as const
