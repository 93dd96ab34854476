import { randomUUID } from 'node:crypto'
import { makeEvent, type HostFailedV1, type HostFencedV1, type RecoveryMethod } from '@lazarus/contracts'
import type { EvacuatorConfig } from '../config.js'

/** Settings that keep a recovery short in a test: brief waits and polls, no retry, no sweep of its own. */
export const FAST_EVACUATOR: Partial<EvacuatorConfig> = {
  waitPeriodAfterEvacuation: 10,
  confirmPollFirstMs: 20,
  confirmPollMaxMs: 100,
  claimLeaseMs: 5000,
  sweepIntervalMs: 60_000,
  recoveryRetryLimit: 0,
}

/** A host.fenced event for `host`, as the fencer publishes it. */
export const hostFenced = (host: string, o: { notificationId?: string; recoveryMethod?: RecoveryMethod; disabledReason?: string } = {}): HostFencedV1 => {
  const notificationId = o.notificationId ?? randomUUID()
  return makeEvent({
    type: 'host.fenced.v1',
    correlationId: notificationId,
    source: 'fencer',
    payload: {
      notificationId,
      host: { id: randomUUID(), name: host, type: 'COMPUTE', controlAttributes: '', reserved: false, onMaintenance: false },
      segment: { id: randomUUID(), name: 'segment-1', recoveryMethod: o.recoveryMethod ?? 'auto', serviceType: 'COMPUTE', enabled: true, quickEvacuateLevel: 2 },
      level: 2,
      poweredOff: true,
      forcedDown: true,
      ...(o.disabledReason === undefined ? {} : { disabledReason: o.disabledReason }),
      timings: {},
    },
  })
}

/** The host.failed event the detector published before `fenced` (same notification, host and segment). */
export const hostFailed = (fenced: HostFencedV1): HostFailedV1 =>
  makeEvent({
    type: 'host.failed.v1',
    correlationId: fenced.correlationId,
    source: 'detector',
    payload: { notificationId: fenced.payload.notificationId, host: fenced.payload.host, segment: fenced.payload.segment, reason: 'heartbeats lost' },
  })

export const waitFor = async <T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
