import * as z from 'zod'

/**
 * Masakari's error answers (wsgi.Fault): one key naming the fault, holding the status and a
 * message, e.g. `{"badRequest": {"code": 400, "message": "..."}}`.
 */

/** Masakari's fault names by status; other statuses are `masakariFault`. */
export const FAULT_NAMES: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
}

export const faultName = (status: number): string => FAULT_NAMES[status] ?? 'masakariFault'

export const FaultDetail = z.object({ code: z.number().int(), message: z.string() })
export type FaultDetail = z.infer<typeof FaultDetail>

export const FaultBody = z
  .record(z.string(), FaultDetail)
  .meta({ id: 'Fault', description: 'e.g. {"badRequest": {"code": 400, "message": "..."}}; also itemNotFound, conflictingRequest, overLimit, badMediaType' })
export type FaultBody = z.infer<typeof FaultBody>

/** The fault body the api answers with `status`. */
export const faultBody = (status: number, message: string): FaultBody => ({ [faultName(status)]: { code: status, message } })

/** The fault of an answer body: its name and detail, or undefined when the body is no fault. */
export const readFault = (body: unknown): { name: string; detail: FaultDetail } | undefined => {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined
  for (const [name, v] of Object.entries(body)) {
    const detail = FaultDetail.safeParse(v)
    if (detail.success) return { name, detail: detail.data }
  }
  return undefined
}

/**
 * The message inside a fault body (`{"itemNotFound": {"code": 404, "message": "…"}}`), or
 * a plain `{"message": "…"}` as proxies answer; undefined when there is none.
 */
export const faultMessage = (body: unknown): string | undefined => {
  if (!body || typeof body !== 'object') return undefined
  for (const v of Object.values(body as Record<string, unknown>)) {
    if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message
  }
  const m = (body as { message?: unknown }).message
  return typeof m === 'string' ? m : undefined
}
