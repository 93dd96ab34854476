import type { MiddlewareHandler } from 'hono'
import { actionOf, allows, DEFAULT_POLICY, ROLES, type Policy, type Role } from '../auth/policy.js'
import { KeystoneUnavailableError, type KeystoneValidator } from '../auth/keystone.js'
import { ApiError } from '../errors.js'
import type { AppEnv } from './env.js'

export type { Role }

/** Parse `key:role,key:role`. Throws on an unknown role or a malformed entry. */
export const parseApiKeys = (spec: string): Map<string, Role> => {
  const keys = new Map<string, Role>()
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = entry.lastIndexOf(':')
    const key = i > 0 ? entry.slice(0, i) : ''
    const role = i > 0 ? entry.slice(i + 1) : ''
    if (!key || !(ROLES as readonly string[]).includes(role)) {
      throw new Error(`API_KEYS: each entry is key:role with role one of ${ROLES.join(', ')}`)
    }
    keys.set(key, role as Role)
  }
  return keys
}

/** Who is calling: the roles policy checks, and a name for messages and logs. */
export interface Principal {
  roles: ReadonlySet<string>
  name: string
}

/** Turns an `X-Auth-Token` into a principal, or undefined when the token is not valid. */
export type Authenticator = (token: string) => Promise<Principal | undefined>

export const apiKeyAuthenticator = (keys: Map<string, Role>): Authenticator => {
  return async (token) => {
    const role = keys.get(token)
    return role ? { roles: new Set([role]), name: `api key (${role})` } : undefined
  }
}

/** Keystone's `admin` is the api's admin; `member` and `reader` may read. Raw role names stay usable in POLICY. */
export const keystoneRoles = (roles: readonly string[]): Set<string> => {
  const out = new Set(roles)
  if (roles.includes('admin')) out.add('admin')
  if (roles.includes('member') || roles.includes('reader')) out.add('reader')
  return out
}

export const keystoneAuthenticator = (validator: KeystoneValidator): Authenticator => {
  return async (token) => {
    let info
    try {
      info = await validator.validate(token)
    } catch (err) {
      if (err instanceof KeystoneUnavailableError) throw new ApiError(503, `Cannot validate the token now: ${err.message}`, { cause: err })
      throw err
    }
    return info ? { roles: keystoneRoles(info.roles), name: info.user ?? 'keystone user' } : undefined
  }
}

/** `X-Auth-Token` → principal → policy: 401 without a valid token, 403 when the policy says no. Runs before the body is read. */
export const authenticate = (authenticator: Authenticator, policy: Policy): MiddlewareHandler<AppEnv> =>
  async function authenticate(c, next) {
    const token = c.req.header('X-Auth-Token')
    const principal = token ? await authenticator(token) : undefined
    if (!principal) throw new ApiError(401, 'Authentication required: send a valid X-Auth-Token')
    const action = actionOf(c.req.method, c.req.path)
    if (!allows(policy, action, principal.roles)) {
      throw new ApiError(403, `Policy doesn't allow ${action} to be performed (${c.req.method} ${c.req.path}) by ${principal.name}.`)
    }
    c.set('principal', principal)
    await next()
  }

/** Static API keys under the default policy (kept for routes that take API keys directly). */
export const apiKeyAuth = (keys: Map<string, Role>): MiddlewareHandler<AppEnv> => authenticate(apiKeyAuthenticator(keys), DEFAULT_POLICY)
