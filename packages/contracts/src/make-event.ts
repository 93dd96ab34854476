import { randomUUID } from 'node:crypto'
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
    payload: draft.payload,
  }) as EventOf<T>
