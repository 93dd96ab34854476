import { randomUUID } from 'node:crypto'
import { maskControlAttributes } from './control-attributes.js'
import { EVENT_SCHEMA_VERSION } from './event-version.js'
import type { EventOf, EventType } from './events/index.js'

/** What a publisher gives; the envelope fields it omits are filled in. */
export interface EventDraft<T extends EventType> {
  type: T
  payload: EventOf<T>['payload']
  correlationId: string
  causationId?: string | undefined
  source: string
  now?: Date
}

export const makeEvent = <T extends EventType>(draft: EventDraft<T>): EventOf<T> =>
  ({
    id: randomUUID(),
    type: draft.type,
    occurredAt: (draft.now ?? new Date()).toISOString(),
    correlationId: draft.correlationId,
    ...(draft.causationId === undefined ? {} : { causationId: draft.causationId }),
    source: draft.source,
    schemaVersion: EVENT_SCHEMA_VERSION,
    payload: withoutSecrets(draft.payload),
  }) as unknown as EventOf<T>

/**
 * Every publisher builds its events here: a host snapshot leaves with any secret written in
 * its control attributes masked, so that no bus message carries one whatever the source row held.
 */
const withoutSecrets = <P>(payload: P): P => {
  const host = (payload as { host?: { controlAttributes?: unknown } } | undefined)?.host
  if (!host || typeof host.controlAttributes !== 'string') return payload
  const masked = maskControlAttributes(host.controlAttributes)
  return masked === host.controlAttributes ? payload : { ...payload, host: { ...host, controlAttributes: masked } }
}
