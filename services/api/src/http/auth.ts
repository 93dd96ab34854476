import type { Context, MiddlewareHandler } from 'hono'
import { createHash } from 'node:crypto'
import { actionOf, allows, projectOfPath, type Action, type Policy } from '../auth/policy.js'
import { KeystoneInvalidFloodError, KeystoneUnavailableError, type KeystoneValidator } from '../auth/keystone.js'
import { ApiError } from '../errors.js'
import type { AppEnv } from './env.js'
import { ROLES, type Principal, type Role } from './principal.js'

/** Parse `key:role,key:role`. Throws on an unknown role or a malformed entry. */
export const parseApiKeys = (spec: string): Map<string, Role> => {
  const keys = new Map<string, Role>()
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
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

/** Turns an `X-Auth-Token` into a principal, or undefined when the token is not valid. */
export type Authenticator = (token: string) => Promise<Principal | undefined>

/** SHA-256 of a token or key, base64url: API keys are looked up by it, and its first 16 characters name a caller. */
const digest = (s: string): string => createHash('sha256').update(s).digest('base64url')

export const apiKeyAuthenticator = (keys: Map<string, Role>): Authenticator => {
  // Compared by digest, so the lookup does not depend on how much of a key matches.
  const byDigest = new Map([...keys].map(([k, role]) => [digest(k), role]))
  return async (token) => {
    const d = digest(token)
    const role = byDigest.get(d)
    return role ? { id: `key:${d.slice(0, 16)}`, roles: new Set([role]), name: `api key (${role})`, keyRole: role } : undefined
  }
}

/**
 * The roles policy sees for a Keystone token: its Keystone role names as they are, plus
 * `monitor` when it holds one of `monitorRoles` (KEYSTONE_MONITOR_ROLES), so the default
 * `monitor_api` rule covers the monitors' service user. No other mapping: a `member` or
 * `reader` of some project is nothing more to this api than what the policy grants those names.
 */
export const keystoneRoles = (roles: readonly string[], monitorRoles: readonly string[] = []): Set<string> => {
  const out = new Set(roles)
  if (roles.some((r) => monitorRoles.includes(r))) out.add('monitor')
  return out
}

export const keystoneAuthenticator = (validator: KeystoneValidator, monitorRoles: readonly string[] = []): Authenticator => {
  return async (token) => {
    let info
    try {
      info = await validator.validate(token)
    } catch (err) {
      if (err instanceof KeystoneInvalidFloodError) throw new ApiError(429, err.message, { cause: err })
      if (err instanceof KeystoneUnavailableError) throw new ApiError(503, `Cannot validate the token now: ${err.message}`, { cause: err })
      throw err
    }
    if (!info) return undefined
    return {
      id: `keystone:${info.userId ?? info.user ?? digest(token).slice(0, 16)}:${info.projectId ?? ''}`,
      name: info.user ?? 'keystone user',
      roles: keystoneRoles(info.roles, monitorRoles),
      projectId: info.projectId,
      userId: info.userId,
    }
  }
}

/** How the api knows its callers: the authenticator and the policy. Undefined when AUTH=none. */
export interface Access {
  authenticator: Authenticator
  policy: Policy
}

/**
 * `X-Auth-Token` → principal, then, as Masakari does: a `/v1/{project_id}/...` path must name
 * the token's own project (400 otherwise, Masakari's message), then the policy (403). 401
 * without a valid token. All before the body is read, so a refused request changes nothing.
 */
export const authorize = async (c: Context<AppEnv>, access: Access, action: Action): Promise<Principal> => {
  const token = c.req.header('X-Auth-Token')
  const principal = token ? await access.authenticator(token) : undefined
  if (!principal) throw new ApiError(401, 'Authentication required: send a valid X-Auth-Token')
  const urlProject = projectOfPath(c.req.path)
  if (urlProject !== undefined && urlProject !== principal.projectId) {
    throw new ApiError(400, `Malformed request URL: URL's project_id '${urlProject}' doesn't match Context's project_id '${principal.projectId ?? 'None'}'`)
  }
  if (!allows(access.policy, action, principal, { project_id: urlProject ?? principal.projectId })) {
    throw new ApiError(403, `Policy doesn't allow ${action} to be performed (${c.req.method} ${c.req.path}) by ${principal.name}.`)
  }
  c.set('principal', principal)
  return principal
}

/** The middleware: the action from the method and path under /v1, or a fixed one (the dashboard's). */
export const authenticate = (access: Access, fixed?: Action): MiddlewareHandler<AppEnv> =>
  async function authenticate(c, next) {
    await authorize(c, access, fixed ?? actionOf(c.req.method, c.req.path))
    await next()
  }
