/**
 * Exit codes scripts can rely on. Every failure the CLI reports carries one of these.
 */
export const Exit = {
  ok: 0,
  /** The operation failed, or the recovery being watched failed. */
  failed: 1,
  /** The command was called wrongly: bad flags or values (also a 400 from the api). */
  usage: 2,
  /** `notification watch`: the recovery ended `ignored`. */
  ignored: 3,
  notFound: 4,
  /** The api refused because of the current state (409). */
  conflict: 5,
  /** Missing or rejected credentials (401), or not allowed (403). */
  auth: 6,
  /** The api could not be reached. */
  unreachable: 7,
  /** `notification watch --timeout` ran out before the recovery ended. */
  timeout: 8,
} as const

export type ExitCode = (typeof Exit)[keyof typeof Exit]

/** A failure to report to the operator: a message that says what to fix, and an exit code. */
export class CliError extends Error {
  override readonly name: string = 'CliError'
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export const usageError = (message: string) => new CliError(message, Exit.usage)
export const notFoundError = (message: string) => new CliError(message, Exit.notFound)

/** An answer of the api other than 2xx, with the api's own message. */
export class ApiResponseError extends CliError {
  override readonly name: string = 'ApiResponseError'
  constructor(
    readonly status: number,
    readonly apiMessage: string,
    message: string,
  ) {
    super(message, exitCodeForStatus(status))
  }
}

export const exitCodeForStatus = (status: number): ExitCode => {
  if (status === 401 || status === 403) return Exit.auth
  if (status === 404) return Exit.notFound
  if (status === 409) return Exit.conflict
  if (status === 400 || status === 422) return Exit.usage
  return Exit.failed
}
