import * as z from 'zod'

/**
 * Every message that crosses the bus travels in this envelope. The `type` names the
 * event and its version (`host.fenced.v1`) and doubles as the routing key.
 */
export const envelopeFields = {
  id: z.uuid(),
  occurredAt: z.iso.datetime({ offset: true }),
  /** The notification this message belongs to: one recovery, one correlation id. */
  correlationId: z.string().min(1),
  /** The id of the message that caused this one. */
  causationId: z.string().min(1).optional(),
  /** The service that published it. */
  source: z.string().min(1),
  /** The event contract's version, `"<major>.<minor>"`; absent from the first release's producers (= 1.0). See event-version.ts. */
  schemaVersion: z.string().max(16).optional(),
}

export const defineEvent = <TType extends string, TPayload extends z.ZodType>(type: TType, payload: TPayload) => z.object({ ...envelopeFields, type: z.literal(type), payload })

/** Any envelope, before its payload is known: what a transport can check on its own. */
export const AnyEnvelope = z.object({ ...envelopeFields, type: z.string().min(1), payload: z.unknown() })
export type AnyEnvelope = z.infer<typeof AnyEnvelope>
