import { type QueueSpec, readMessageVersion } from '@lazarus/contracts'
import { errorText } from '@lazarus/runtime'
import * as z from 'zod'
import type { DeliveryContext, Handler } from './bus.js'

/** What a transport must do with one delivery once its handler is done. */
export type Outcome = { type: 'ACK' } | { type: 'RETRY'; reason: string; delayMs: number; nextAttempt: number } | { type: 'DEAD'; reason: string }

/**
 * The transport-independent part of consuming: decode the JSON body, refuse a `schemaVersion`
 * this build cannot read (event-version.ts: dead letter), validate it with the
 * schema (failure: dead letter with zod's message), run the handler (a throw is a RETRY),
 * and turn a RETRY past the queue's `maxAttempts` into a DEAD that keeps the last reason.
 */
export const runHandler = async <T>(spec: QueueSpec, schema: z.ZodType<T>, handler: Handler<T>, body: string, ctx: DeliveryContext): Promise<Outcome> => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (err) {
    return { type: 'DEAD', reason: `not JSON: ${errorText(err)}` }
  }
  // A major this build cannot read (event-version.ts) is dead-lettered, never retried.
  const version = readMessageVersion(json)
  if (!version.accept) return { type: 'DEAD', reason: `unreadable version: ${version.reason}` }
  let parsed: z.ZodSafeParseResult<T>
  try {
    parsed = schema.safeParse(json)
  } catch (err) {
    // A refinement or transform of the schema threw: the message cannot be read.
    return { type: 'DEAD', reason: `invalid message: ${errorText(err)}` }
  }
  if (!parsed.success) return { type: 'DEAD', reason: `invalid message: ${z.prettifyError(parsed.error)}` }

  let reason: string
  let delayMs = spec.retryDelayMs
  try {
    const result: unknown = await handler(parsed.data, ctx)
    if (!isResult(result)) {
      reason = `handler returned no valid result: ${safeJson(result)}`
    } else if (result.type === 'ACK') {
      return { type: 'ACK' }
    } else if (result.type === 'DEAD') {
      return { type: 'DEAD', reason: result.reason }
    } else {
      reason = result.reason
      if (result.delayMs !== undefined) delayMs = Math.max(0, result.delayMs)
    }
  } catch (err) {
    reason = `handler threw: ${errorText(err)}`
  }
  if (ctx.attempt >= spec.maxAttempts) {
    return { type: 'DEAD', reason: `gave up after ${ctx.attempt} attempts: ${reason}` }
  }
  return { type: 'RETRY', reason, delayMs, nextAttempt: ctx.attempt + 1 }
}

type AnyResult = { type: 'ACK' } | { type: 'RETRY'; reason: string; delayMs?: number } | { type: 'DEAD'; reason: string }

const isResult = (r: unknown): r is AnyResult => {
  if (typeof r !== 'object' || r === null) return false
  const type = (r as { type?: unknown }).type
  return type === 'ACK' || type === 'RETRY' || type === 'DEAD'
}

const safeJson = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}
