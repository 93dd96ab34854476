import { TokenSession, httpRequest, keystoneV3Url, type HttpResponse, type KeystoneCredentials } from '@lazarus/openstack'
import { createHash } from 'node:crypto'

/** What Keystone says about a valid token. */
export interface TokenInfo {
  /** Keystone role names. */
  roles: string[]
  /** Epoch ms. */
  expiresAt: number
  user: string | undefined
  userId: string | undefined
  projectId: string | undefined
}

export class KeystoneUnavailableError extends Error {
  override readonly name = 'KeystoneUnavailableError'
}

/** Too many unknown tokens lately: this one is not sent to Keystone now (429, retry later). */
export class KeystoneInvalidFloodError extends Error {
  override readonly name = 'KeystoneInvalidFloodError'
}

export interface KeystoneValidator {
  /** The token's roles and expiry, or undefined when Keystone does not know it (or it expired). */
  validate(token: string): Promise<TokenInfo | undefined>
  /** Valid tokens held in the cache now. */
  cached(): number
  /** Refused tokens remembered now. */
  refused(): number
}

export interface KeystoneValidatorOptions {
  url: string
  /** The api's own credentials, to get the token it validates others with... */
  credentials?: KeystoneCredentials | undefined
  /** ...or a fixed service token. */
  serviceToken?: string | undefined
  /** Valid tokens kept (least recently used out first). */
  cacheSize: number
  /**
   * How long a valid token is trusted without asking Keystone again, in ms (at most until it
   * expires): keystonemiddleware's token_cache_time, 300 s. A revoked token stops working
   * within this time.
   */
  cacheTtlMs?: number
  timeoutMs: number
  /** Refused tokens remembered (a cache of their own, so they never push valid ones out). */
  negativeCacheSize?: number
  /** How long a refused token is remembered, so a client repeating it does not reach Keystone. */
  negativeTtlMs?: number
  /**
   * Unknown tokens Keystone may be asked about per second once the burst is spent: a flood of
   * distinct bogus tokens costs Keystone this much and no more (the rest get 429).
   */
  invalidPerSecond?: number
  invalidBurst?: number
  now?: () => number
}

/** A bounded map in least-recently-used order, each entry until its own deadline. */
const boundedCache = <V>(size: number, now: () => number) => {
  const m = new Map<string, { value: V; until: number }>()
  return {
    get(key: string): V | undefined {
      const hit = m.get(key)
      if (!hit) return undefined
      m.delete(key)
      if (hit.until <= now()) return undefined
      m.set(key, hit)
      return hit.value
    },
    set(key: string, value: V, until: number) {
      m.delete(key)
      m.set(key, { value, until })
      while (m.size > size) m.delete(m.keys().next().value as string)
    },
    delete: (key: string) => m.delete(key),
    size: () => m.size,
  }
}

/**
 * Validates user tokens with Keystone `GET /v3/auth/tokens` (`X-Subject-Token`). A valid
 * answer is kept for `cacheTtlMs` at most (and never past the token's expiry), so a revoked
 * token stops working within that time. Refused tokens go to a separate small cache, and
 * Keystone is asked about unknown tokens at a bounded rate: a flood of distinct bogus tokens
 * neither reaches Keystone beyond that rate nor pushes valid tokens out of their cache.
 * Both caches are bounded and keyed by a hash of the token; concurrent checks of one token
 * share one request.
 */
export const createKeystoneValidator = (o: KeystoneValidatorOptions): KeystoneValidator => {
  const now = o.now ?? Date.now
  const cacheTtlMs = o.cacheTtlMs ?? 300_000
  const negativeTtlMs = o.negativeTtlMs ?? 60_000
  const ratePerMs = (o.invalidPerSecond ?? 5) / 1000
  const burst = o.invalidBurst ?? 20
  const base = keystoneV3Url(o.url)
  const session = o.serviceToken ? undefined : o.credentials ? new TokenSession(o.credentials, o.timeoutMs, now) : undefined
  if (!o.serviceToken && !session)
    throw new Error("KEYSTONE_URL needs the api's credentials (OS_CLOUD, an application credential, or OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME) or KEYSTONE_SERVICE_TOKEN")
  const valid = boundedCache<TokenInfo>(o.cacheSize, now)
  const refused = boundedCache<true>(o.negativeCacheSize ?? 1000, now)
  const inflight = new Map<string, Promise<TokenInfo | undefined>>()
  // Token bucket of lookups that may turn out invalid: one is taken before asking, and given
  // back when the token was valid, so only refused tokens spend it.
  let allowance = burst
  let refilledAt = now()
  const take = (): boolean => {
    const t = now()
    allowance = Math.min(burst, allowance + (t - refilledAt) * ratePerMs)
    refilledAt = t
    if (allowance < 1) return false
    allowance -= 1
    return true
  }
  const giveBack = () => {
    allowance = Math.min(burst, allowance + 1)
  }

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
    let res: HttpResponse
    try {
      // The OpenStack client's HTTP: its keep-alive pool, and the CA bundle of the credentials (OS_CACERT).
      res = await httpRequest({
        method: 'GET',
        url: `${base}/auth/tokens`,
        headers: { 'X-Auth-Token': service, 'X-Subject-Token': token },
        timeoutMs: o.timeoutMs,
        ca: o.credentials?.ca,
      })
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
    const t = (res.body as { token?: { roles?: { name?: unknown }[]; expires_at?: unknown; user?: { name?: unknown; id?: unknown }; project?: { id?: unknown } } } | null)?.token
    const expiresAt = Date.parse(String(t?.expires_at ?? ''))
    if (!t || Number.isNaN(expiresAt)) throw new KeystoneUnavailableError(`Keystone at ${base} answered a token validation without expires_at`)
    return {
      roles: (t.roles ?? []).map((r) => r.name).filter((n): n is string => typeof n === 'string'),
      expiresAt,
      user: typeof t.user?.name === 'string' ? t.user.name : undefined,
      userId: typeof t.user?.id === 'string' ? t.user.id : undefined,
      projectId: typeof t.project?.id === 'string' ? t.project.id : undefined,
    }
  }

  return {
    async validate(token) {
      const key = createHash('sha256').update(token).digest('base64url')
      const hit = valid.get(key)
      if (hit) return hit
      if (refused.get(key)) return undefined
      let pending = inflight.get(key)
      if (!pending) {
        if (!take()) throw new KeystoneInvalidFloodError('Too many unknown tokens lately; this one was not checked with Keystone. Retry in a moment.')
        pending = ask(token)
          .then(
            (info) => {
              const t = now()
              if (info && info.expiresAt > t) {
                giveBack()
                valid.set(key, info, Math.min(info.expiresAt, t + cacheTtlMs))
                return info
              }
              refused.set(key, true, t + negativeTtlMs)
              return undefined
            },
            (err: unknown) => {
              // Keystone did not answer: the token may well be valid; do not count it as refused.
              giveBack()
              throw err
            },
          )
          .finally(() => inflight.delete(key))
        inflight.set(key, pending)
      }
      return pending
    },
    cached: () => valid.size(),
    refused: () => refused.size(),
  }
}
