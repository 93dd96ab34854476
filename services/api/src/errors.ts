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

/** Masakari's fault shape (`{"badRequest": {"code": 400, "message": ...}}`): one definition, in the api contract. */
export { faultBody } from '@lazarus/api-contract'
