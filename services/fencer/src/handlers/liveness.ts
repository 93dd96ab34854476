import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from '@lazarus/runtime'
import type { FencerWorkers } from '../adapters/db/fencer-workers.js'
import { ownerActsUntil, ownerMayAct } from '../domain/claim-takeover.js'

/** This process may no longer act on its claims: its beats stopped reaching the ledger in time. */
export class LivenessLostError extends Error {
  override readonly name = 'LivenessLostError'
  constructor(readonly workerId: string) {
    super(`fencer ${workerId} could not say it is alive in time; its claims may be taken over`)
  }
}

export interface LivenessSettings {
  /** Between two beats. */
  workerBeatMs: number
  /** A process whose beat is this old is dead to the others. */
  workerDeadAfterMs: number
  /** This process stops acting this long before the others may see it dead. */
  workerSafetyMs: number
}

/** One life of this process in fencer_workers: a new one begins after every lapse. */
export interface Incarnation {
  workerId: string
  /** Aborted when this incarnation may no longer act (its waits and BMC requests stop). */
  signal: AbortSignal
}

export interface FencerLiveness {
  /** The current incarnation, undefined while it has not beaten yet (nothing may be claimed then). */
  current(): Incarnation | undefined
  /** Throws LivenessLostError (and aborts its signal) unless `workerId` may still act. */
  assert(workerId: string): void
  /** A clean stop: no more beats, the row goes. */
  stop(): Promise<void>
}

const newWorkerId = (): string => `${hostname()}:${process.pid}:${randomUUID()}`

/**
 * This process's heartbeat in the ledger (adapters/db/fencer-workers.ts), every
 * `workerBeatMs`, and its own view of whether it may act (domain/claim-takeover.ts): past
 * `workerDeadAfterMs - workerSafetyMs` after its last successful beat was sent, or when the
 * ledger answers that its row had already died, the incarnation ends (its signal aborts the
 * fence steps in progress, which give their claims back) and a new one, with a new worker
 * id, begins. An incarnation never comes back, so a claim taken over from it stays taken.
 */
export const startLiveness = async (workers: FencerWorkers, settings: LivenessSettings, log: Logger): Promise<FencerLiveness> => {
  const { workerBeatMs, workerDeadAfterMs, workerSafetyMs } = settings
  let workerId = newWorkerId()
  let controller = new AbortController()
  let lastSentAt: number | undefined
  let lapseTimer: NodeJS.Timeout | undefined
  let stopped = false

  const mayAct = (): boolean => ownerMayAct({ lastBeatSentAt: lastSentAt, now: performance.now(), deadAfterMs: workerDeadAfterMs, safetyMs: workerSafetyMs })

  const lapse = (): void => {
    if (lastSentAt !== undefined) log.warn({ workerId }, 'liveness beat lapsed: stopping the fences of this incarnation and starting a new one')
    clearTimeout(lapseTimer)
    controller.abort(new LivenessLostError(workerId))
    workerId = newWorkerId()
    controller = new AbortController()
    lastSentAt = undefined
  }

  const beatOnce = async (): Promise<void> => {
    if (lastSentAt !== undefined && !mayAct()) lapse()
    const id = workerId
    const sentAt = performance.now()
    const alive = await workers.beat(id, workerDeadAfterMs)
    if (id !== workerId || stopped) return
    if (!alive) {
      lapse()
      return
    }
    lastSentAt = sentAt
    clearTimeout(lapseTimer)
    lapseTimer = setTimeout(
      () => {
        if (id === workerId && !mayAct()) lapse()
      },
      Math.max(0, ownerActsUntil(sentAt, workerDeadAfterMs, workerSafetyMs) - performance.now()),
    )
    lapseTimer.unref()
  }

  await beatOnce()
  let running: Promise<void> | undefined
  const timer = setInterval(() => {
    if (running) return
    running = beatOnce()
      .catch((err: unknown) => log.warn({ err }, 'liveness beat failed; the next one retries'))
      .finally(() => {
        running = undefined
      })
  }, workerBeatMs)
  timer.unref()

  return {
    current: () => (lastSentAt !== undefined && mayAct() ? { workerId, signal: controller.signal } : undefined),
    assert(id) {
      if (id === workerId && mayAct()) return
      if (id === workerId) lapse()
      throw new LivenessLostError(id)
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      clearTimeout(lapseTimer)
      await running
      await workers.leave(workerId).catch((err: unknown) => log.warn({ err }, 'could not remove this fencer from fencer_workers'))
    },
  }
}
