import * as z from 'zod'
import { mapEvent, type MapOptions, type MapResult } from './map-event.js'
import type { MappingRules } from './rules.js'

/** One alert of an Alertmanager webhook (payload version 4). */
export const AlertmanagerAlert = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).default({}),
  startsAt: z.string().min(1),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1),
})
export type AlertmanagerAlert = z.infer<typeof AlertmanagerAlert>

/**
 * Alertmanager's webhook body, version 4. Only what Lazarus reads is required; each alert
 * is checked on its own so that one bad alert does not refuse the others.
 */
export const AlertmanagerWebhook = z.looseObject({
  version: z.literal('4'),
  groupKey: z.string().optional(),
  status: z.enum(['firing', 'resolved']).optional(),
  receiver: z.string().optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  alerts: z.array(z.unknown()),
})
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>

export interface AlertMapping {
  /** The alert's fingerprint, or undefined when the alert is not even shaped like one. */
  fingerprint: string | undefined
  /** The alert's startsAt: with the fingerprint, names one occurrence of one alert. */
  startsAt: string | undefined
  status: 'firing' | 'resolved' | undefined
  result: MapResult
}

/**
 * Map one alert: a firing alert is a STOPPED event at `startsAt`, a resolved one a
 * STARTED event at `endsAt`; the rules read `labels.*`, `annotations.*` and `status`.
 * The same alert sent again (Alertmanager repeats firing alerts) maps to the same
 * notification, which the api detects as a duplicate. `bounds`: the receiver's clock and
 * skew, to reject an alert time too far ahead (see `MapOptions`).
 */
export const mapAlert = (rules: MappingRules, alert: unknown, bounds: Pick<MapOptions, 'now' | 'maxFutureSkewS'> = {}): AlertMapping => {
  const parsed = AlertmanagerAlert.safeParse(alert)
  if (!parsed.success) {
    const loose = (typeof alert === 'object' && alert !== null ? alert : {}) as Record<string, unknown>
    const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'alert'}: ${i.message}`).join('; ')
    return {
      fingerprint: typeof loose['fingerprint'] === 'string' ? loose['fingerprint'] : undefined,
      startsAt: typeof loose['startsAt'] === 'string' ? loose['startsAt'] : undefined,
      status: loose['status'] === 'firing' || loose['status'] === 'resolved' ? loose['status'] : undefined,
      result: { kind: 'reject', reason: `not an Alertmanager alert: ${issues}` },
    }
  }
  const a = parsed.data
  const time = a.status === 'resolved' ? a.endsAt : a.startsAt
  const result = a.status === 'resolved' && !time ? ({ kind: 'reject', reason: 'resolved alert without endsAt' } as const) : mapEvent(rules, a, { ...bounds, time })
  return { fingerprint: a.fingerprint, startsAt: a.startsAt, status: a.status, result }
}
