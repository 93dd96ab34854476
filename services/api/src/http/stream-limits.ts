import type { Context } from 'hono'
import { ApiError } from '../errors.js'
import type { AppEnv } from './env.js'

/**
 * How many Server-Sent Event streams may be open, and for how long. Each stream holds a
 * socket, a timer and a database read per change or poll: without bounds a few hundred idle
 * streams keep the api busy. Both the notification streams and the dashboard's count here.
 */
export interface StreamLimits {
  /** Open at once, all callers together. */
  total: number
  /** Open at once per caller. */
  perPrincipal: number
  /** A stream that sent no event for this long is ended (a held notification can stay `new` for hours). */
  idleMs: number
  /** A stream is ended after this long whatever it sends; a client that still wants it reconnects. */
  maxLifetimeMs: number
}

export interface StreamGate {
  readonly limits: StreamLimits
  /** A slot for the caller, or a 429 when either bound is reached. Release it once the stream ends (releasing twice is harmless). */
  acquire(c: Context<AppEnv>): () => void
  /** Streams open now. */
  open(): number
}

/** Who a stream counts against: the authenticated caller, or the client's address when there is no auth. */
const callerOf = (c: Context<AppEnv>): string => {
  const principal = c.get('principal')
  if (principal) return principal.id
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
  return `addr:${incoming?.socket?.remoteAddress ?? 'unknown'}`
}

export const createStreamGate = (limits: StreamLimits): StreamGate => {
  const perCaller = new Map<string, number>()
  let total = 0
  return {
    limits,
    acquire(c) {
      const caller = callerOf(c)
      const mine = perCaller.get(caller) ?? 0
      if (total >= limits.total) throw new ApiError(429, `Too many event streams open on this api (${limits.total}); retry later.`)
      if (mine >= limits.perPrincipal) throw new ApiError(429, `Too many event streams open for this caller (${limits.perPrincipal}); close one first.`)
      total += 1
      perCaller.set(caller, mine + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        total -= 1
        const left = (perCaller.get(caller) ?? 1) - 1
        if (left > 0) perCaller.set(caller, left)
        else perCaller.delete(caller)
      }
    },
    open: () => total,
  }
}

/**
 * Deadlines of one stream: `wait` is how long the next sleep may last, `expired` names why the
 * stream must end now (or undefined). `sent` marks an event, which resets the idle clock.
 */
export const streamClock = (limits: StreamLimits, now: () => number = Date.now) => {
  const opened = now()
  let lastEvent = opened
  return {
    sent: () => {
      lastEvent = now()
    },
    expired: (): 'idle' | 'lifetime' | undefined => {
      const t = now()
      if (t - opened >= limits.maxLifetimeMs) return 'lifetime'
      if (t - lastEvent >= limits.idleMs) return 'idle'
      return undefined
    },
    wait: (ms: number): number => {
      const t = now()
      return Math.max(1, Math.min(ms, opened + limits.maxLifetimeMs - t, lastEvent + limits.idleMs - t))
    },
  }
}
