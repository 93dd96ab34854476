import { ConfigError } from '@lazarus/runtime'
import { CheckStringError, evaluate, parseCheckString, referencedRules, type Check, type Credentials, type Target } from './check-string.js'

/**
 * Who may do what, as Masakari decides it: every request is one action named as Masakari
 * names it (`os_masakari_api:segments:index`, ...), Lazarus's own extensions under
 * `lazarus:`; each action is an oslo.policy check string. The defaults are Masakari's: every
 * segment, host, notification and vmove action is `rule:admin_api` (admin only), and a
 * monitor may only post notifications. An operator overrides any of them in a policy file
 * (POLICY_FILE, YAML as oslo.policy reads it), e.g.
 * `"os_masakari_api:segments:index": "rule:admin_api or role:reader"`.
 */

/** The base rules other checks refer to, as in Masakari (plus `monitor_api`). */
export const BASE_RULES = {
  context_is_admin: 'role:admin',
  admin_or_owner: 'is_admin:True or project_id:%(project_id)s',
  admin_api: 'is_admin:True',
  /** Monitors (API key role `monitor`, or KEYSTONE_MONITOR_ROLE) may report failures. */
  monitor_api: 'role:monitor',
} as const

const ADMIN = 'rule:admin_api'
const ADMIN_OR_MONITOR = 'rule:admin_api or rule:monitor_api'

/** The actions and their defaults. */
export const DEFAULT_ACTIONS = {
  'os_masakari_api:segments:index': ADMIN,
  'os_masakari_api:segments:detail': ADMIN,
  'os_masakari_api:segments:create': ADMIN,
  'os_masakari_api:segments:update': ADMIN,
  'os_masakari_api:segments:delete': ADMIN,
  'os_masakari_api:os-hosts:index': ADMIN,
  'os_masakari_api:os-hosts:detail': ADMIN,
  'os_masakari_api:os-hosts:create': ADMIN,
  'os_masakari_api:os-hosts:update': ADMIN,
  'os_masakari_api:os-hosts:delete': ADMIN,
  'os_masakari_api:notifications:index': ADMIN,
  'os_masakari_api:notifications:detail': ADMIN,
  'os_masakari_api:notifications:create': ADMIN_OR_MONITOR,
  'os_masakari_api:vmoves:index': ADMIN,
  'os_masakari_api:vmoves:detail': ADMIN,
  'lazarus:segments:pause': ADMIN,
  'lazarus:segments:resume': ADMIN,
  /** `GET /v1/segments/{id}/capacity`: figures over the instances of every tenant. */
  'lazarus:segments:capacity': ADMIN,
  /** `POST /v1/segments/{id}/plans`: what a recovery would do, naming the instances of every tenant. */
  'lazarus:segments:plan': ADMIN,
  'lazarus:notifications:retry': ADMIN,
  /** Publish one notification held in a paused segment (the storm guard's, or an operator's pause). */
  'lazarus:notifications:release': ADMIN,
  /** The SSE stream of one notification (its detail and its vmoves). */
  'lazarus:notifications:events': ADMIN,
  'lazarus:alerts:index': ADMIN,
  /** Alertmanager webhooks (`POST /v1/ingest/...`): notifications by another way in. */
  'lazarus:ingest:create': ADMIN_OR_MONITOR,
  /** `GET /v1/ingest/dead-letters`: the alerts ingest could not turn into notifications, payloads included. */
  'lazarus:ingest:index': ADMIN,
  /** `/dashboard/state` and `/dashboard/events`: every segment, host and recovery at once. */
  'lazarus:dashboard:state': ADMIN,
  /** Any other request under /v1 (an unknown path, answered 404 once allowed). */
  'lazarus:default': ADMIN,
} as const satisfies Record<string, string>

export type Action = keyof typeof DEFAULT_ACTIONS
export const ACTIONS = Object.keys(DEFAULT_ACTIONS) as Action[]

/** The parsed rules, actions and base rules alike, and where each came from. */
export interface Policy {
  rules: ReadonlyMap<string, Check>
  /** The check string of each rule, for messages and the README. */
  sources: ReadonlyMap<string, string>
  /** Names given that nothing uses (e.g. Masakari's `...:discoverable`), to log once. */
  unused: readonly string[]
}

/** The names of the `POLICY` JSON setting before the Masakari names, mapped to the new ones. */
export const LEGACY_ACTIONS: Readonly<Record<string, Action | readonly Action[]>> = {
  'segments:index': 'os_masakari_api:segments:index',
  'segments:show': 'os_masakari_api:segments:detail',
  'segments:create': 'os_masakari_api:segments:create',
  'segments:update': 'os_masakari_api:segments:update',
  'segments:delete': 'os_masakari_api:segments:delete',
  'segments:pause': 'lazarus:segments:pause',
  'segments:resume': 'lazarus:segments:resume',
  'hosts:index': 'os_masakari_api:os-hosts:index',
  'hosts:show': 'os_masakari_api:os-hosts:detail',
  'hosts:create': 'os_masakari_api:os-hosts:create',
  'hosts:update': 'os_masakari_api:os-hosts:update',
  'hosts:delete': 'os_masakari_api:os-hosts:delete',
  'notifications:index': 'os_masakari_api:notifications:index',
  'notifications:show': ['os_masakari_api:notifications:detail', 'lazarus:notifications:events'],
  'notifications:create': 'os_masakari_api:notifications:create',
  'notifications:retry': 'lazarus:notifications:retry',
  'vmoves:index': 'os_masakari_api:vmoves:index',
  'vmoves:show': 'os_masakari_api:vmoves:detail',
  'alerts:index': 'lazarus:alerts:index',
  'ingest:create': 'lazarus:ingest:create',
  'default:read': 'lazarus:default',
  'default:write': 'lazarus:default',
}

export class PolicyError extends ConfigError {
  override readonly name = 'PolicyError'
}

const isAction = (name: string): name is Action => Object.hasOwn(DEFAULT_ACTIONS, name)

/**
 * Build the policy: defaults, then each layer of overrides in order (the policy file, then the
 * `POLICY` setting). An override is `name: "check string"`; names are actions, base rules or
 * rules of the operator's own (for `rule:name`). Throws PolicyError naming the bad entry: a
 * value that is not a string, a check string that does not parse, an unknown `lazarus:`
 * action (a typo would otherwise leave the default in force), a `rule:` that names no rule,
 * or rules that refer to each other in a cycle.
 */
export const buildPolicy = (layers: readonly { origin: string; entries: Record<string, unknown> }[] = []): Policy => {
  const sources = new Map<string, string>(Object.entries({ ...BASE_RULES, ...DEFAULT_ACTIONS }))
  const origins = new Map<string, string>()
  for (const { origin, entries } of layers) {
    for (const [name, value] of Object.entries(entries)) {
      if (typeof value !== 'string') throw new PolicyError(`${origin}: '${name}' must be a check string (e.g. "rule:admin_api or role:reader")`)
      if (name.startsWith('lazarus:') && !isAction(name)) {
        throw new PolicyError(`${origin}: unknown action '${name}'; Lazarus's actions are ${ACTIONS.filter((a) => a.startsWith('lazarus:')).join(', ')}`)
      }
      sources.set(name, value)
      origins.set(name, origin)
    }
  }
  const rules = new Map<string, Check>()
  for (const [name, source] of sources) {
    try {
      rules.set(name, parseCheckString(source))
    } catch (err) {
      if (err instanceof CheckStringError) throw new PolicyError(`${origins.get(name) ?? 'default policy'}: '${name}': ${err.message}`)
      throw err
    }
  }
  for (const [name, check] of rules) {
    for (const ref of referencedRules(check)) {
      if (!rules.has(ref)) throw new PolicyError(`${origins.get(name) ?? 'default policy'}: '${name}' refers to rule:${ref}, which no entry defines`)
    }
  }
  // A cycle would make every request that reaches it fail: refuse it at load.
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return
    if (state.get(name) === 'visiting') throw new PolicyError(`rules refer to each other in a cycle: ${[...path, name].join(' → ')}`)
    state.set(name, 'visiting')
    for (const ref of referencedRules(rules.get(name) as Check)) visit(ref, [...path, name])
    state.set(name, 'done')
  }
  for (const name of rules.keys()) visit(name, [])

  const used = new Set<string>([...Object.keys(BASE_RULES), ...ACTIONS])
  const mark = (name: string) => {
    for (const ref of referencedRules(rules.get(name) as Check)) {
      if (!used.has(ref)) {
        used.add(ref)
        mark(ref)
      }
    }
  }
  for (const name of [...used]) mark(name)
  return { rules, sources, unused: [...rules.keys()].filter((n) => !used.has(n)) }
}

/**
 * The former `POLICY` setting, JSON `{"action": ["role", ...]}` with the old action names,
 * as policy entries: each list becomes `role:a or role:b` on the action's new name(s). New
 * names with check strings are taken as they are, so `POLICY` can also carry a few overrides
 * in the new form.
 */
export const legacyPolicyEntries = (json: string): Record<string, unknown> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    throw new PolicyError('POLICY: not JSON; expected {"action": "check string"} (or the former {"action": ["role", ...]})')
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PolicyError('POLICY: expected a JSON object {"action": "check string"}')
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(parsed)) {
    const legacy = Object.hasOwn(LEGACY_ACTIONS, name) ? LEGACY_ACTIONS[name] : undefined
    const targets = legacy === undefined ? [name] : typeof legacy === 'string' ? [legacy] : [...legacy]
    let check = value
    if (Array.isArray(value)) {
      if (value.length === 0 || !value.every((r) => typeof r === 'string' && /^[\w.-]+$/.test(r))) {
        throw new PolicyError(`POLICY: '${name}' must be a non-empty list of role names or a check string`)
      }
      if (legacy === undefined && !isAction(name)) throw new PolicyError(`POLICY: unknown action '${name}'; actions are ${ACTIONS.join(', ')}`)
      check = value.map((r) => `role:${r}`).join(' or ')
    }
    for (const t of targets) out[t] = check
  }
  return out
}

/** The caller as policy sees it. */
export interface Caller {
  roles: ReadonlySet<string>
  projectId?: string | undefined
  userId?: string | undefined
}

/** May the caller perform the action on the target? `is_admin` is the `context_is_admin` rule, as in Masakari. */
export const allows = (policy: Policy, action: Action, caller: Caller, target: Target = {}): boolean => {
  const base: Credentials = { roles: caller.roles, project_id: caller.projectId, user_id: caller.userId, is_admin: false }
  const isAdminRule = policy.rules.get('context_is_admin')
  const creds: Credentials = { ...base, is_admin: isAdminRule ? evaluate(isAdminRule, policy.rules, base, target) : false }
  const check = policy.rules.get(action)
  return check !== undefined && evaluate(check, policy.rules, creds, { project_id: caller.projectId, ...definedOnly(target) })
}

const definedOnly = (t: Target): Target => (t.project_id === undefined ? {} : { project_id: t.project_id })

const ID = '[^/]+'
const routes: [method: string, path: RegExp, action: Action][] = [
  ['GET', /^\/segments\/?$/, 'os_masakari_api:segments:index'],
  ['POST', /^\/segments\/?$/, 'os_masakari_api:segments:create'],
  ['GET', new RegExp(`^/segments/${ID}/?$`), 'os_masakari_api:segments:detail'],
  ['PUT', new RegExp(`^/segments/${ID}/?$`), 'os_masakari_api:segments:update'],
  ['DELETE', new RegExp(`^/segments/${ID}/?$`), 'os_masakari_api:segments:delete'],
  ['POST', new RegExp(`^/segments/${ID}/pause/?$`), 'lazarus:segments:pause'],
  ['POST', new RegExp(`^/segments/${ID}/resume/?$`), 'lazarus:segments:resume'],
  ['GET', new RegExp(`^/segments/${ID}/capacity/?$`), 'lazarus:segments:capacity'],
  ['POST', new RegExp(`^/segments/${ID}/plans/?$`), 'lazarus:segments:plan'],
  ['GET', new RegExp(`^/segments/${ID}/hosts/?$`), 'os_masakari_api:os-hosts:index'],
  ['POST', new RegExp(`^/segments/${ID}/hosts/?$`), 'os_masakari_api:os-hosts:create'],
  ['GET', new RegExp(`^/segments/${ID}/hosts/${ID}/?$`), 'os_masakari_api:os-hosts:detail'],
  ['PUT', new RegExp(`^/segments/${ID}/hosts/${ID}/?$`), 'os_masakari_api:os-hosts:update'],
  ['DELETE', new RegExp(`^/segments/${ID}/hosts/${ID}/?$`), 'os_masakari_api:os-hosts:delete'],
  ['GET', /^\/notifications\/?$/, 'os_masakari_api:notifications:index'],
  ['POST', /^\/notifications\/?$/, 'os_masakari_api:notifications:create'],
  ['GET', new RegExp(`^/notifications/${ID}/?$`), 'os_masakari_api:notifications:detail'],
  ['GET', new RegExp(`^/notifications/${ID}/events/?$`), 'lazarus:notifications:events'],
  ['POST', new RegExp(`^/notifications/${ID}/retry/?$`), 'lazarus:notifications:retry'],
  ['POST', new RegExp(`^/notifications/${ID}/release/?$`), 'lazarus:notifications:release'],
  ['GET', new RegExp(`^/notifications/${ID}/vmoves/?$`), 'os_masakari_api:vmoves:index'],
  ['GET', new RegExp(`^/notifications/${ID}/vmoves/${ID}/?$`), 'os_masakari_api:vmoves:detail'],
  ['GET', /^\/alerts\/?$/, 'lazarus:alerts:index'],
  ['POST', /^\/ingest(\/.*)?$/, 'lazarus:ingest:create'],
  ['GET', /^\/ingest(\/.*)?$/, 'lazarus:ingest:index'],
]

/** Masakari's project-scoped form: `/v1/{project_id}/...` with a hex project id (dashes allowed). */
const PROJECT_PATH = /^\/v1\/([0-9a-fA-F-]+)(?=\/|$)/

/** The project id a `/v1/{project_id}/...` path names, or undefined for the plain `/v1/...` form. */
export const projectOfPath = (path: string): string | undefined => PROJECT_PATH.exec(path)?.[1]

/** `/v1/...` or `/v1/{project_id}/...` → the path under the version root. */
const underV1 = (path: string): string => path.replace(PROJECT_PATH, '').replace(/^\/v1(?=\/|$)/, '') || '/'

/** The action of a request under /v1. */
export const actionOf = (method: string, path: string): Action => {
  const m = method === 'HEAD' ? 'GET' : method
  const rel = underV1(path)
  for (const [rm, re, action] of routes) if (rm === m && re.test(rel)) return action
  return 'lazarus:default'
}
