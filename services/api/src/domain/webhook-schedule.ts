/**
 * When a push to an operator endpoint is tried again, or given up. Pure: the
 * random draw is passed in. Exponential backoff with "equal jitter": the n-th failed attempt
 * waits between half and all of `min(maxDelayMs, baseDelayMs * 2^(n-1))`, so that replicas
 * and endpoints that failed together do not retry in step, yet a retry never comes sooner
 * than half its nominal delay. After `maxAttempts` attempts the push is dead.
 */
export interface WebhookSchedule {
  /** Attempts in all, the first included (>= 1). */
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export type AfterFailure = { next: 'retry'; delayMs: number } | { next: 'dead' }

/** What follows the failure of attempt number `attempt` (1 for the first); `random` in [0, 1). */
export const afterFailure = (attempt: number, schedule: WebhookSchedule, random: number): AfterFailure => {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, not ${attempt}`)
  if (attempt >= schedule.maxAttempts) return { next: 'dead' }
  const nominal = Math.min(schedule.maxDelayMs, schedule.baseDelayMs * 2 ** Math.min(attempt - 1, 52))
  const r = Math.min(Math.max(random, 0), 1)
  return { next: 'retry', delayMs: Math.round(nominal / 2 + (nominal / 2) * r) }
}

/** Whether an HTTP status is a delivery: any 2xx. A redirect is a failure (redirects are never followed). */
export const delivered = (status: number): boolean => status >= 200 && status < 300
