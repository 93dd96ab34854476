/**
 * A failure with an HTTP status, rendered in Masakari's fault shape:
 * `{"badRequest": {"code": 400, "message": "..."}}`.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export const badRequest = (message: string) => new ApiError(400, message)
export const notFound = (message: string) => new ApiError(404, message)
export const conflict = (message: string) => new ApiError(409, message)

/** Masakari's fault names by status (wsgi.Fault); others are `masakariFault`. */
const faultNames: Record<number, string> = {
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

export const faultBody = (status: number, message: string): Record<string, { code: number; message: string }> => ({
  [faultNames[status] ?? 'masakariFault']: { code: status, message },
})
