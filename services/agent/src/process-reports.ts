import { ApiError, createApiClient } from '@lazarus/api-contract'
import type { HeartbeatCheck } from '@lazarus/contracts'
import { sleep, type Logger } from '@lazarus/runtime'

export type ProcessEvent = 'STOPPED' | 'STARTED'

export interface ProcessChange {
  name: string
  event: ProcessEvent
  /** When the change happened (STOPPED: when it was first found missing). */
  at: number
}

interface Watched {
  /** Found running at least once since the agent started. */
  seenRunning: boolean
  missingSince: number | undefined
  /** A STOPPED was emitted and no STARTED since. */
  down: boolean
}

/**
 * Decides process failures from the process probe's results, pure (time passed in): a
 * watched process that was running and is missing (`not running`) for `failureAfterMs`
 * is STOPPED, once; it is STARTED when found again after that. A shorter gap (a restart)
 * is nothing. A probe that could not tell (a timeout, /proc unreadable) changes nothing.
 * A process never seen running since the agent started is not reported (the agent does
 * not know it disappeared; a failure before an agent restart was reported by the run that saw it).
 */
export class ProcessFailureWatch {
  readonly #watched = new Map<string, Watched>()

  constructor(readonly failureAfterMs: number) {}

  observe(checks: readonly HeartbeatCheck[], now: number): ProcessChange[] {
    const out: ProcessChange[] = []
    for (const c of checks) {
      let w = this.#watched.get(c.name)
      if (!w) this.#watched.set(c.name, (w = { seenRunning: false, missingSince: undefined, down: false }))
      if (c.ok) {
        w.seenRunning = true
        w.missingSince = undefined
        if (w.down) {
          w.down = false
          out.push({ name: c.name, event: 'STARTED', at: now })
        }
      } else if (c.error === 'not running' && w.seenRunning && !w.down) {
        w.missingSince ??= now
        if (now - w.missingSince >= this.failureAfterMs) {
          w.down = true
          out.push({ name: c.name, event: 'STOPPED', at: w.missingSince })
        }
      }
    }
    return out
  }
}

export interface ProcessReporterOptions {
  apiUrl: string
  apiToken?: string | undefined
  hostName: string
  timeoutMs?: number
  /** Attempts per notification, and the first delay between them (doubling, at most `maxRetryMs`). */
  attempts?: number
  retryMs?: number
  maxRetryMs?: number
  log: Logger
  fetch?: typeof fetch
  now?: () => number
}

export type ReportOutcome = 'accepted' | 'duplicate' | 'refused' | 'gave_up' | 'skipped'

export interface ProcessReporter {
  /** Send the change as a PROCESS notification (in order per process, in the background). */
  report(change: ProcessChange): void
  /** Every outcome so far, in order (for logs and tests). */
  readonly outcomes: { name: string; event: ProcessEvent; outcome: ReportOutcome; status?: number }[]
  /** Wait for reports in flight, at most `boundMs`; retries stop. */
  close(boundMs?: number): Promise<void>
}

/**
 * Reports process failures to the api as masakari-monitors' processmonitor does:
 * `POST /v1/notifications` `{"type": "PROCESS", "payload": {"process_name", "event"}}`.
 * Retries with backoff when the api cannot be reached, times out, or answers 408, 429 or
 * 5xx; stops at once on any other 4xx (400 bad request, 409 the same notification was
 * already sent, 401/403 a bad token). Reports of one process go one after another; a
 * STARTED is sent only if its STOPPED reached the api.
 */
export const createProcessReporter = (o: ProcessReporterOptions): ProcessReporter => {
  const attempts = o.attempts ?? 12
  const firstDelay = o.retryMs ?? 1000
  const maxDelay = o.maxRetryMs ?? 10_000
  const timeoutMs = o.timeoutMs ?? 5000
  const now = o.now ?? Date.now
  const stopping = new AbortController()
  const chains = new Map<string, Promise<void>>()
  /** Per process: did its last STOPPED reach the api? */
  const delivered = new Map<string, boolean>()
  const outcomes: ProcessReporter['outcomes'] = []
  const api = createApiClient({ url: o.apiUrl, token: o.apiToken, timeoutMs, signal: stopping.signal, ...(o.fetch ? { fetch: o.fetch } : {}) })

  const send = async (c: ProcessChange): Promise<{ outcome: ReportOutcome; status?: number }> => {
    const notification = {
      type: 'PROCESS' as const,
      hostname: o.hostName,
      generated_time: new Date(c.at).toISOString(),
      payload: { process_name: c.name, event: c.event },
    }
    let delay = firstDelay
    for (let attempt = 1; ; attempt++) {
      let status = 0
      let text = ''
      try {
        status = (await api.createNotification({ notification })).status
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
        // A 2xx whose body is off the contract: the api took it all the same.
        status = err.status
        text = err.kind === 'unreachable' ? err.message : err.apiMessage
      }
      if (status >= 200 && status < 300) return { outcome: 'accepted', status }
      if (status === 409) {
        o.log.info({ process: c.name, event: c.event, status }, 'the api already has this process notification (409); not retrying')
        return { outcome: 'duplicate', status }
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        o.log.error({ process: c.name, event: c.event, status, answer: text.slice(0, 300) }, 'the api refused the process notification; not retrying')
        return { outcome: 'refused', status }
      }
      if (attempt >= attempts || stopping.signal.aborted) {
        o.log.error({ process: c.name, event: c.event, status, attempts: attempt, answer: text.slice(0, 300) }, 'could not send the process notification to the api; giving up')
        return { outcome: 'gave_up', status }
      }
      o.log.warn({ process: c.name, event: c.event, status, attempt, retryInMs: delay, answer: text.slice(0, 200) }, 'sending the process notification failed; retrying')
      await sleep(delay, stopping.signal)
      delay = Math.min(delay * 2, maxDelay)
    }
  }

  const handle = async (c: ProcessChange) => {
    if (c.event === 'STARTED' && delivered.get(c.name) !== true) {
      outcomes.push({ name: c.name, event: c.event, outcome: 'skipped' })
      o.log.info({ process: c.name }, 'process running again; its STOPPED never reached the api, so no STARTED is sent')
      return
    }
    const started = now()
    const r = await send(c)
    if (c.event === 'STOPPED') delivered.set(c.name, r.outcome === 'accepted' || r.outcome === 'duplicate')
    outcomes.push({ name: c.name, event: c.event, ...r })
    if (r.outcome === 'accepted') {
      o.log.warn(
        { process: c.name, event: c.event, tookMs: now() - started },
        `process ${c.name} ${c.event === 'STOPPED' ? 'stopped' : 'started again'}: notification sent to the api`,
      )
    }
  }

  return {
    report(c) {
      if (stopping.signal.aborted) return
      const prev = chains.get(c.name) ?? Promise.resolve()
      const next = prev.then(() => handle(c)).catch((err: unknown) => o.log.error({ err, process: c.name }, 'process notification failed'))
      chains.set(c.name, next)
      void next.finally(() => {
        if (chains.get(c.name) === next) chains.delete(c.name)
      })
    },
    outcomes,
    async close(boundMs = 2000) {
      const pending = [...chains.values()]
      let t: NodeJS.Timeout | undefined
      // Let what is being sent finish within the bound; then stop retrying.
      await Promise.race([Promise.allSettled(pending), new Promise((r) => (t = setTimeout(r, boundMs)))])
      clearTimeout(t)
      stopping.abort()
      await Promise.allSettled(pending)
    },
  }
}
