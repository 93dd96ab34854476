import type { Context } from 'hono'
import { ApiError, badRequest } from '../errors.js'

/** The request's JSON body: 415 unless it is declared JSON, 400 when it does not parse. */
export const jsonBody = async (c: Context): Promise<unknown> => {
  const type = c.req.header('content-type')
  if (!type || !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type.trim())) {
    throw new ApiError(415, `Unsupported Content-Type ${type ?? '(none)'}: send application/json`)
  }
  const text = await c.req.text()
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw badRequest('Malformed request body: not JSON')
  }
}

/** A JSON body that may also be absent (actions whose fields are all optional): `{}` then. */
export const optionalJsonBody = async (c: Context): Promise<unknown> => {
  const length = c.req.header('content-length')
  const chunked = c.req.header('transfer-encoding')
  if (!c.req.header('content-type') && (length === undefined || length === '0') && !chunked) return {}
  if (length === '0') return {}
  return jsonBody(c)
}
