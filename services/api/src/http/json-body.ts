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
