import { describe, expect, it } from 'vitest'
import { decideBusy } from './busy-claim.js'

const now = new Date('2026-01-01T00:00:00Z')
const holder = (notificationId: string, leaseLeftMs: number) => ({ notificationId, leaseUntil: new Date(now.getTime() + leaseLeftMs) })

describe('a host.failed whose host another owner is fencing', () => {
  it('is retried once the holder’s lease could have lapsed, within [200 ms, one lease]', () => {
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', 5_000), attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'retry', waitMs: 5_100 })
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', -10_000), attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'retry', waitMs: 200 })
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', 90_000), attempt: 1, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'retry', waitMs: 30_000 })
  })

  it('on the last delivery, leaves its own notification to the owner and ignores another one', () => {
    expect(decideBusy({ notificationId: 'n1', holder: holder('n1', 5_000), attempt: 5, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'leave' })
    expect(decideBusy({ notificationId: 'n2', holder: holder('n1', 5_000), attempt: 5, maxAttempts: 5, now, leaseMs: 30_000 })).toEqual({ kind: 'ignore' })
  })
})
