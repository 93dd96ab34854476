import type { Bus } from '@lazarus/bus'
import { makeEvent, type AlertRaisedV1, type HostFenceFailedV1, type LazarusEvent } from '@lazarus/contracts'
import type { StoredOutcome } from '../adapters/db/fence-ledger.js'

export const SOURCE = 'fencer'

/** The operator alert that goes with every failed fence: the host stays as it was, nothing is evacuated. */
export const fenceFailedAlert = (p: HostFenceFailedV1['payload']): AlertRaisedV1['payload'] => ({
  kind: 'fence_failed',
  severity: 'critical',
  segmentId: p.segment.id,
  host: p.host.name,
  notificationId: p.notificationId,
  message: `fencing host ${p.host.name} failed; its instances will not be evacuated until an operator acts: ${p.reason}`,
})

const eventOf = (o: StoredOutcome, correlationId: string, causationId: string | undefined, now: Date): LazarusEvent => {
  const base = { correlationId, causationId, source: SOURCE, now }
  switch (o.type) {
    case 'host.fenced.v1':
      return makeEvent({ ...base, type: o.type, payload: o.payload })
    case 'host.fence_failed.v1':
      return makeEvent({ ...base, type: o.type, payload: o.payload })
    case 'host.unfenced.v1':
      return makeEvent({ ...base, type: o.type, payload: o.payload })
    case 'alert.raised.v1':
      return makeEvent({ ...base, type: o.type, payload: o.payload })
  }
}

/**
 * Publish an operation's recorded outcome (again, for a redelivery). A failed fence is
 * followed by its critical alert, so an alert lost to a crash comes back with the outcome.
 */
export const publishOutcome = async (
  bus: Pick<Bus, 'publish'>,
  o: StoredOutcome,
  opts: { correlationId: string; causationId: string | undefined; now: Date; alert?: boolean },
): Promise<void> => {
  await bus.publish(eventOf(o, opts.correlationId, opts.causationId, opts.now))
  if (o.type === 'host.fence_failed.v1' && opts.alert !== false) {
    await bus.publish(eventOf({ type: 'alert.raised.v1', payload: fenceFailedAlert(o.payload) }, opts.correlationId, opts.causationId, opts.now))
  }
}
