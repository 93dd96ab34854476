import { describe, expect, it } from 'vitest'
import { decideBusy } from './busy-claim.js'

const now = new Date('2026-01-01T00:00:00Z')
const holder = (notificationId: string, leaseLeftMs: number) => ({ notificationId, leaseUntil: new Date(now.getTime() + leaseLeftMs) })

describe('a host.failed whose host another owner is fencing', () => {
  it('is retried once the holder’s lease could have lapsed, within [200 ms, one lease]', () => {
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', 5_000), attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({
      kind: 'retry',
      waitMs: 5_100,
      why: 'lease',
    })
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', -10_000), attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({
      kind: 'retry',
      waitMs: 200,
      why: 'lease',
    })
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', 90_000), attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({
      kind: 'retry',
      waitMs: 30_000,
      why: 'lease',
    })
  })

  it('on the last delivery, leaves its own notification to the owner and ignores another one', () => {
    expect(decideBusy({ notificationId: 'n1', holder: holder('n1', 5_000), attempt: 5, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'leave' })
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', 5_000), attempt: 5, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'ignore' })
  })

  it('on a first delivery whose holder beats in the ledger, is retried just after the holder’s alive_until', () => {
    // Given the holder's process says it is alive for 1.5 s more (RabbitMQ redelivered its message at once after a crash)
    const beating = { ...holder('n1', 25_000), ownerAliveMs: 1_500 }
    // When the notification is delivered for the first time, then it is retried once the holder would be known dead
    expect(decideBusy({ notificationId: 'n1', holder: beating, attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'retry', waitMs: 1_600, why: 'owner_liveness' })
    // and a holder already known dead (a claim race) is retried soon
    expect(decideBusy({ notificationId: 'n1', holder: { ...beating, ownerAliveMs: -300 }, attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({
      kind: 'retry',
      waitMs: 200,
      why: 'owner_liveness',
    })
    // never later than the lease
    expect(decideBusy({ notificationId: 'n1', holder: { ...holder('n1', 1_000), ownerAliveMs: 1_900 }, attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({
      kind: 'retry',
      waitMs: 1_100,
      why: 'owner_liveness',
    })
  })

  it('on later deliveries, a holder that still beats (alive but slow) is waited for until its lease', () => {
    const beating = { ...holder('n1', 25_000), ownerAliveMs: 1_900 }
    expect(decideBusy({ notificationId: 'n1', holder: beating, attempt: 2, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'retry', waitMs: 25_100, why: 'lease' })
  })
})
