import { NovaError } from './nova-types.js'

/** A request that got no HTTP answer: connection refused, reset, DNS, or timed out. */
export class OpenStackRequestError extends Error {
  override name = 'OpenStackRequestError'
  constructor(
    message: string,
    readonly url: string,
    readonly timedOut: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** Keystone refused to issue a token, or issued one that is unusable (no compute endpoint). */
export class KeystoneError extends Error {
  override name = 'KeystoneError'
  constructor(
    readonly status: number | undefined,
    message: string,
    readonly body: unknown,
  ) {
    super(message)
  }
}

/**
 * Nova's own words from an error body. Nova wraps them as `{"<faultName>": {"code", "message"}}`
 * (badRequest, conflictingRequest, itemNotFound, computeFault, ...); keystonemiddleware as
 * `{"error": {"message"}}`; proxies answer with plain text.
 */
export const faultMessage = (body: unknown, fallback: string): string => {
  if (typeof body === 'string') return body.trim() === '' ? fallback : body.trim().slice(0, 500)
  if (body && typeof body === 'object') {
    for (const value of Object.values(body as Record<string, unknown>)) {
      if (value && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
        return (value as { message: string }).message
      }
    }
    const top = (body as { message?: unknown }).message
    if (typeof top === 'string') return top
  }
  return fallback
}

export const novaErrorFrom = (status: number, statusText: string, body: unknown, request: string): NovaError =>
  new NovaError(status, faultMessage(body, statusText || `HTTP ${status}`), body, request)
