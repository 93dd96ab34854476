import { TokenSession, keystoneV3Url, type KeystoneCredentials } from '@lazarus/openstack'
import { createHash } from 'node:crypto'

/** What Keystone says about a valid token. */
export interface TokenInfo {
  /** Keystone role names. */
  roles: string[]
  /** Epoch ms. */
  expiresAt: number
  user: string | undefined
  projectId: string | undefined
}

export class KeystoneUnavailableError extends Error {
  override readonly name = 'KeystoneUnavailableError'
}

export interface KeystoneValidator {
  /** The token's roles and expiry, or undefined when Keystone does not know it (or it expired). */
  validate(token: string): Promise<TokenInfo | undefined>
  /** Tokens held in the cache now. */
  cached(): number
}

export interface KeystoneValidatorOptions {
  url: string
  /** The api's own credentials, to get the token it validates others with... */
  credentials?: KeystoneCredentials | undefined
  /** ...or a fixed service token. */
  serviceToken?: string | undefined
  cacheSize: number
  timeoutMs: number
  /** How long a refused token is remembered, so a bad client cannot flood Keystone. */
  negativeTtlMs?: number
  now?: () => number
}

/**
 * Validates user tokens with Keystone `GET /v3/auth/tokens` (`X-Subject-Token`), and
 * caches each answer until the token expires. The cache is bounded (oldest entry out first)
 * and keyed by a hash of the token; concurrent checks of one token share one request.
 */
export const createKeystoneValidator = (o: KeystoneValidatorOptions): KeystoneValidator => {
  const now = o.now ?? Date.now
  const negativeTtlMs = o.negativeTtlMs ?? 5000
  const base = keystoneV3Url(o.url)
  const session = o.serviceToken ? undefined : o.credentials ? new TokenSession(o.credentials, o.timeoutMs, now) : undefined
  if (!o.serviceToken && !session) throw new Error('KEYSTONE_URL needs the api\'s credentials (OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME) or KEYSTONE_SERVICE_TOKEN')
  const cache = new Map<string, { info: TokenInfo | undefined; until: number }>()
  const inflight = new Map<string, Promise<TokenInfo | undefined>>()

  const serviceToken = async (): Promise<string> => {
    if (o.serviceToken) return o.serviceToken
    try {
      return await (session as TokenSession).token()
    } catch (err) {
      throw new KeystoneUnavailableError(`cannot authenticate the api with Keystone: ${(err as Error).message}`, { cause: err })
    }
  }

  const ask = async (token: string, retried = false): Promise<TokenInfo | undefined> => {
    const service = await serviceToken()
    let res: Response
    let body: unknown
    try {
      res = await fetch(`${base}/auth/tokens`, {
        headers: { 'X-Auth-Token': service, 'X-Subject-Token': token, Accept: 'application/json' },
        signal: AbortSignal.timeout(o.timeoutMs),
      })
      body = res.status === 200 ? await res.json() : await res.text()
    } catch (err) {
      throw new KeystoneUnavailableError(`Keystone at ${base} did not answer: ${(err as Error).message}`, { cause: err })
    }
    if (res.status === 401 && !retried && session) {
      // Our own token was refused (expired or revoked): get another and ask again once.
      session.invalidate(service)
      return ask(token, true)
    }
    if (res.status === 404 || res.status === 401) return undefined
    if (res.status !== 200) throw new KeystoneUnavailableError(`Keystone at ${base} answered ${res.status} to a token validation`)
    const t = (body as { token?: { roles?: { name?: unknown }[]; expires_at?: unknown; user?: { name?: unknown }; project?: { id?: unknown } } }).token
    const expiresAt = Date.parse(String(t?.expires_at ?? ''))
    if (!t || Number.isNaN(expiresAt)) throw new KeystoneUnavailableError(`Keystone at ${base} answered a token validation without expires_at`)
    return {
      roles: (t.roles ?? []).map((r) => r.name).filter((n): n is string => typeof n === 'string'),
      expiresAt,
      user: typeof t.user?.name === 'string' ? t.user.name : undefined,
      projectId: typeof t.project?.id === 'string' ? t.project.id : undefined,
    }
  }

  const remember = (key: string, info: TokenInfo | undefined) => {
    const until = info ? info.expiresAt : now() + negativeTtlMs
    cache.delete(key)
    cache.set(key, { info, until })
    while (cache.size > o.cacheSize) cache.delete(cache.keys().next().value as string)
  }

  return {
    async validate(token) {
      const key = createHash('sha256').update(token).digest('base64url')
      const hit = cache.get(key)
      if (hit) {
        if (hit.until > now()) return hit.info
        cache.delete(key)
      }
      let pending = inflight.get(key)
      if (!pending) {
        pending = ask(token)
          .then((info) => {
            const valid = info && info.expiresAt > now() ? info : undefined
            remember(key, valid)
            return valid
          })
          .finally(() => inflight.delete(key))
        inflight.set(key, pending)
      }
      return pending
    },
    cached: () => cache.size,
  }
}
