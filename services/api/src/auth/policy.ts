/**
 * Who may do what. Every request under `/v1` is one action; a policy lists, per action, the
 * roles allowed to perform it. Roles are the api's own (`admin`, `monitor`, `reader`) or any
 * Keystone role name, so an operator can grant an action to e.g. a `service` role.
 */

export type Role = 'admin' | 'monitor' | 'reader'
export const ROLES: readonly Role[] = ['admin', 'monitor', 'reader']

const READ: readonly string[] = ['admin', 'monitor', 'reader']
const ADMIN: readonly string[] = ['admin']

/** The actions and who may perform them by default: reads for every role, writes for admin, notifications also for monitors. */
export const DEFAULT_POLICY = {
  'segments:index': READ,
  'segments:show': READ,
  'segments:create': ADMIN,
  'segments:update': ADMIN,
  'segments:delete': ADMIN,
  'segments:pause': ADMIN,
  'segments:resume': ADMIN,
  'hosts:index': READ,
  'hosts:show': READ,
  'hosts:create': ADMIN,
  'hosts:update': ADMIN,
  'hosts:delete': ADMIN,
  'notifications:index': READ,
  'notifications:show': READ,
  'notifications:create': ['admin', 'monitor'],
  'notifications:retry': ADMIN,
  'vmoves:index': READ,
  'vmoves:show': READ,
  'alerts:index': READ,
  'ingest:create': ['admin', 'monitor'],
  /** Any other read under /v1. */
  'default:read': READ,
  /** Any other write under /v1. */
  'default:write': ADMIN,
} as const satisfies Record<string, readonly string[]>

export type Action = keyof typeof DEFAULT_POLICY
export type Policy = Record<Action, readonly string[]>

/** Parse POLICY (JSON `{"action": ["role", ...]}`) over the defaults. Throws naming the bad entry. */
export const parsePolicy = (json: string | undefined): Policy => {
  const policy: Policy = { ...DEFAULT_POLICY }
  if (!json) return policy
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    throw new Error('POLICY: not JSON; expected {"action": ["role", ...]}')
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('POLICY: expected a JSON object {"action": ["role", ...]}')
  for (const [action, roles] of Object.entries(parsed)) {
    if (!(action in DEFAULT_POLICY)) throw new Error(`POLICY: unknown action '${action}'; actions are ${Object.keys(DEFAULT_POLICY).join(', ')}`)
    if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && r.length > 0)) {
      throw new Error(`POLICY: '${action}' must be a list of role names`)
    }
    policy[action as Action] = roles as string[]
  }
  return policy
}

const ID = '[^/]+'
const routes: [method: string, path: RegExp, action: Action][] = [
  ['GET', /^\/segments\/?$/, 'segments:index'],
  ['POST', /^\/segments\/?$/, 'segments:create'],
  ['GET', new RegExp(`^/segments/${ID}/?$`), 'segments:show'],
  ['PUT', new RegExp(`^/segments/${ID}/?$`), 'segments:update'],
  ['DELETE', new RegExp(`^/segments/${ID}/?$`), 'segments:delete'],
  ['POST', new RegExp(`^/segments/${ID}/pause/?$`), 'segments:pause'],
  ['POST', new RegExp(`^/segments/${ID}/resume/?$`), 'segments:resume'],
  ['GET', new RegExp(`^/segments/${ID}/hosts/?$`), 'hosts:index'],
  ['POST', new RegExp(`^/segments/${ID}/hosts/?$`), 'hosts:create'],
  ['GET', new RegExp(`^/segments/${ID}/hosts/${ID}/?$`), 'hosts:show'],
  ['PUT', new RegExp(`^/segments/${ID}/hosts/${ID}/?$`), 'hosts:update'],
  ['DELETE', new RegExp(`^/segments/${ID}/hosts/${ID}/?$`), 'hosts:delete'],
  ['GET', /^\/notifications\/?$/, 'notifications:index'],
  ['POST', /^\/notifications\/?$/, 'notifications:create'],
  ['GET', new RegExp(`^/notifications/${ID}(/events)?/?$`), 'notifications:show'],
  ['POST', new RegExp(`^/notifications/${ID}/retry/?$`), 'notifications:retry'],
  ['GET', new RegExp(`^/notifications/${ID}/vmoves/?$`), 'vmoves:index'],
  ['GET', new RegExp(`^/notifications/${ID}/vmoves/${ID}/?$`), 'vmoves:show'],
  ['GET', /^\/alerts\/?$/, 'alerts:index'],
  ['POST', /^\/ingest(\/.*)?$/, 'ingest:create'],
]

/** `/v1/...` or `/v1/{project_id}/...` → the path under the version root. */
const underV1 = (path: string): string => path.replace(/^\/v1(?:\/[0-9a-fA-F-]+(?=\/|$))?/, '') || '/'

/** The action of a request under /v1. */
export const actionOf = (method: string, path: string): Action => {
  const m = method === 'HEAD' ? 'GET' : method
  const rel = underV1(path)
  for (const [rm, re, action] of routes) if (rm === m && re.test(rel)) return action
  return m === 'GET' ? 'default:read' : 'default:write'
}

/** May a caller holding `roles` perform `action`? */
export const allows = (policy: Policy, action: Action, roles: ReadonlySet<string>): boolean => policy[action].some((r) => roles.has(r))
