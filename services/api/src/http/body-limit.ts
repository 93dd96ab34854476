import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { ApiError } from '../errors.js'
import type { AppEnv } from './env.js'

/**
 * 413 for a body larger than `maxBytes`. A request that declares its Content-Length is
 * judged by it (Node's parser never reads past it), so its body is left alone and read once,
 * straight from the socket, by the handler; only a chunked body is counted as it streams.
 */
export const limitBody = (maxBytes: number): MiddlewareHandler<AppEnv> => {
  const tooLarge = () => new ApiError(413, `Request body is larger than ${maxBytes} bytes.`)
  const streamed = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw tooLarge()
    },
  })
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const length = c.req.header('content-length')
    if (length === undefined) return streamed(c, next)
    if (Number(length) > maxBytes) throw tooLarge()
    return next()
  }
}
