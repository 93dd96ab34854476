import { ApiError, createApiClient, MAX_VERSION, SERVICE_TYPE, type ApiClient } from '@lazarus/api-contract'
import type { CliConfig } from './config.js'
import { ApiResponseError, CliError, Exit } from './errors.js'

/**
 * The CLI's side of the api: the typed client of `@lazarus/api-contract`, each of its
 * failures told as the operator needs it (what to fix, and the exit code).
 */

export const MICROVERSION = `${SERVICE_TYPE} ${MAX_VERSION}`

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
  EPIPE: 'connection closed',
}

/** Why a fetch failed, in words: undici hides the system error in `cause` (sometimes nested). */
export const networkReason = (err: unknown): string => {
  let e: unknown = err
  let deepest = err instanceof Error ? err.message : String(err)
  for (let depth = 0; e && depth < 5; depth++) {
    if (e instanceof Error && e.message) deepest = e.message
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NETWORK_REASONS[code]) return NETWORK_REASONS[code]
    if ((e as { name?: unknown }).name === 'TimeoutError') return 'no answer in time'
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0) e = errors[0]
    else e = (e as { cause?: unknown }).cause
  }
  return deepest
}

/** What to change so that the CLI reaches the api, depending on where the URL came from. */
export const urlHint = (c: Pick<CliConfig, 'urlSource' | 'configPath'>): string => {
  switch (c.urlSource) {
    case 'flag':
      return 'check --url'
    case 'env':
      return 'check LAZARUS_URL (or pass --url)'
    case 'file':
      return `check "url" in ${c.configPath} (or pass --url)`
    case 'default':
      return 'set --url or LAZARUS_URL'
  }
}

const statusHint = (status: number, hasToken: boolean): string => {
  if (status === 401) return hasToken ? ' — the token was rejected: check --token or LAZARUS_TOKEN' : ' — set --token or LAZARUS_TOKEN'
  if (status === 403) return ' — this token may not do that: use a token with the admin role'
  if (status === 406) return ` — this api does not serve microversion ${MICROVERSION}`
  return ''
}

type Config = Pick<CliConfig, 'url' | 'token' | 'urlSource' | 'configPath'>

/** The contract's `ApiError` as the CLI reports it. */
export const cliErrorOf = (err: ApiError, config: Config): CliError => {
  const { method, path, status } = err
  switch (err.kind) {
    case 'unreachable':
      return new CliError(`cannot reach the api at ${config.url}: ${networkReason(err.cause)} — ${urlHint(config)}`, Exit.unreachable, { cause: err.cause })
    case 'invalid_answer':
      return err.details.apiMessage === undefined
        ? new CliError(`${method} ${path}: the api at ${config.url} answered ${status} with something that is not JSON — is that the Lazarus api? ${urlHint(config)}`, Exit.failed)
        : new CliError(`${method} ${path}: unexpected answer from the api at ${config.url} (${err.details.apiMessage}) — is that the Lazarus api?`, Exit.failed)
    case 'fault':
      return new ApiResponseError(
        status,
        err.apiMessage,
        `${method} ${path}: ${status} ${err.details.statusText ?? ''}: ${err.apiMessage}${statusHint(status, Boolean(config.token))}`,
      )
  }
}

/** The api client of one command line: every operation's `ApiError` becomes a `CliError`. */
export const cliApiClient = (opts: { config: Config; timeoutMs?: number; fetch?: typeof fetch }): ApiClient => {
  const { config } = opts
  const client = createApiClient({ url: config.url, token: config.token, timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.fetch ? { fetch: opts.fetch } : {}) })
  const told =
    <A extends unknown[], R>(op: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await op(...args)
      } catch (err) {
        throw err instanceof ApiError ? cliErrorOf(err, config) : err
      }
    }
  const wrapped = Object.fromEntries(Object.entries(client).map(([k, v]) => [k, typeof v === 'function' ? told(v as (...a: unknown[]) => Promise<unknown>) : v]))
  return { ...(wrapped as ApiClient), url: config.url }
}
