import type { MiddlewareHandler } from 'hono'
import { ApiError } from '../errors.js'

export type Role = 'admin' | 'monitor' | 'reader'
const ROLES: readonly Role[] = ['admin', 'monitor', 'reader']

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

/** May this role do this? admin: everything; monitor: read, and post notifications; reader: read. */
export const allowed = (role: Role, method: string, path: string): boolean => {
  if (role === 'admin') return true
  if (method === 'GET' || method === 'HEAD') return true
  return role === 'monitor' && method === 'POST' && /\/notifications\/?$/.test(path)
}

/** Static API keys in `X-Auth-Token`: 401 without a known key, 403 when its role may not. */
export const apiKeyAuth = (keys: Map<string, Role>): MiddlewareHandler =>
  async function apiKeyAuth(c, next) {
    const token = c.req.header('X-Auth-Token')
    const role = token === undefined ? undefined : keys.get(token)
    if (!role) throw new ApiError(401, 'Authentication required: send a valid X-Auth-Token')
    if (!allowed(role, c.req.method, c.req.path)) {
      throw new ApiError(403, `Policy doesn't allow ${c.req.method} ${c.req.path} to be performed by role ${role}.`)
    }
    await next()
  }
