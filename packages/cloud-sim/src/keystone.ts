import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { Hono } from 'hono'

/**
 * Keystone v3, just enough: password tokens (unscoped or scoped to the user's project),
 * validation, and revocation as Keystone does them: `GET`/`HEAD /v3/auth/tokens` answer 404
 * for a token revoked with `DELETE /v3/auth/tokens` (or expired), and only an admin or the
 * token's own user may validate or revoke it (403 otherwise). The configured user is an
 * admin (roles admin, member, reader) of the one project; `addUser` adds others, each with
 * its roles on one project.
 */

export interface KeystoneConfig {
  username: string
  password: string
  projectName: string
  tokenTtlMs: number
  /** Where clients reach the sim, for the catalog. */
  baseUrl: () => string
  now: () => number
}

interface TokenRecord {
  id: string
  issuedAt: number
  expiresAt: number
  scoped: boolean
  user: SimUser
}

interface SimUser {
  id: string
  name: string
  password: string
  project: { id: string; name: string }
  roles: { id: string; name: string }[]
}

/** A user `addUser` created: ids to compare with what the api sees. */
export interface KeystoneUserInfo {
  userId: string
  projectId: string
}

const DOMAIN = { id: 'default', name: 'Default' }
const USER_ID = 'a0d1f1e8c6a34d3f9d1b5a7e2c4b6d80'
const PROJECT_ID = '5f4e3d2c1b0a49e8a7b6c5d4e3f2a1b0'
const ROLES = [
  { id: '1e2d3c4b5a6948f7e6d5c4b3a2918070', name: 'admin' },
  { id: '2f3e4d5c6b7a4908f7e6d5c4b3a29181', name: 'member' },
  { id: '3a4f5e6d7c8b4a19e8f7d6c5b4a3a292', name: 'reader' },
]
const hexId = () => randomUUID().replace(/-/g, '')
const roleRef = (name: string) => ROLES.find((r) => r.name === name) ?? { id: createHash('md5').update(name).digest('hex'), name }

export const SIM_PROJECT_ID = PROJECT_ID
export const SIM_USER_ID = USER_ID

const unauthorized = {
  error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' },
}

const domainMatches = (d: unknown): boolean => {
  if (!d || typeof d !== 'object') return false
  const { id, name } = d as { id?: unknown; name?: unknown }
  return id === DOMAIN.id || name === DOMAIN.name
}

export class KeystoneSim {
  private readonly tokens = new Map<string, TokenRecord>()
  private readonly users = new Map<string, SimUser>()
  private readonly projects = new Map<string, string>()
  /** `GET`/`HEAD /v3/auth/tokens` requests answered, to see how often a service asks. */
  validations = 0

  constructor(private readonly cfg: KeystoneConfig) {
    this.projects.set(cfg.projectName, PROJECT_ID)
    this.users.set(cfg.username, { id: USER_ID, name: cfg.username, password: cfg.password, project: { id: PROJECT_ID, name: cfg.projectName }, roles: ROLES })
  }

  /** Another user with `roles` on `projectName` (created if new; the configured project keeps its id). */
  addUser(u: { name: string; password: string; projectName: string; roles: string[] }): KeystoneUserInfo {
    if (this.users.has(u.name)) throw new Error(`keystone sim: user ${u.name} exists`)
    let projectId = this.projects.get(u.projectName)
    if (!projectId) {
      projectId = hexId()
      this.projects.set(u.projectName, projectId)
    }
    const user: SimUser = { id: hexId(), name: u.name, password: u.password, project: { id: projectId, name: u.projectName }, roles: u.roles.map(roleRef) }
    this.users.set(u.name, user)
    return { userId: user.id, projectId }
  }

  /** A token is valid while it is known and unexpired. */
  valid(token: string | undefined | null): boolean {
    if (!token) return false
    const t = this.tokens.get(token)
    return t !== undefined && t.expiresAt > this.cfg.now()
  }

  validScoped(token: string | undefined | null): boolean {
    return this.valid(token) && this.tokens.get(token as string)?.scoped === true
  }

  revokeAll(): void {
    this.tokens.clear()
  }

  /** Revoke one token, as `DELETE /v3/auth/tokens` does. */
  revoke(token: string): boolean {
    return this.tokens.delete(token)
  }

  catalog(): unknown[] {
    const base = this.cfg.baseUrl()
    const endpoints = (url: string) =>
      (['public', 'internal', 'admin'] as const).map((iface) => ({
        id: randomUUID().replace(/-/g, ''),
        interface: iface,
        region: 'RegionOne',
        region_id: 'RegionOne',
        url,
      }))
    return [
      { id: 'c0mpute0000000000000000000000001', type: 'compute', name: 'nova', endpoints: endpoints(`${base}/compute/v2.1`) },
      { id: 'p1acement00000000000000000000001', type: 'placement', name: 'placement', endpoints: endpoints(`${base}/placement`) },
      { id: '1dent1ty000000000000000000000001', type: 'identity', name: 'keystone', endpoints: endpoints(`${base}/identity/v3`) },
    ]
  }

  private tokenBody(t: TokenRecord): Record<string, unknown> {
    const token: Record<string, unknown> = {
      methods: ['password'],
      user: { domain: DOMAIN, id: t.user.id, name: t.user.name, password_expires_at: null },
      audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
      expires_at: new Date(t.expiresAt).toISOString().replace('Z', '000Z'),
      issued_at: new Date(t.issuedAt).toISOString().replace('Z', '000Z'),
    }
    if (t.scoped) {
      token['project'] = { domain: DOMAIN, id: t.user.project.id, name: t.user.project.name }
      token['is_domain'] = false
      token['roles'] = t.user.roles
      token['catalog'] = this.catalog()
    }
    return { token }
  }

  routes(): Hono {
    const app = new Hono()
    app.get('/', (c) =>
      c.json({
        version: {
          id: 'v3.14',
          status: 'stable',
          updated: '2020-04-07T00:00:00Z',
          links: [{ rel: 'self', href: `${this.cfg.baseUrl()}/identity/v3/` }],
          'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
        },
      }),
    )

    app.post('/auth/tokens', async (c) => {
      let body: unknown
      try {
        body = await c.req.json()
      } catch {
        return c.json({ error: { code: 400, message: 'Malformed request body', title: 'Bad Request' } }, 400)
      }
      const auth = (body as { auth?: Record<string, unknown> } | null)?.auth
      const identity = auth?.['identity'] as { methods?: unknown; password?: { user?: Record<string, unknown> } } | undefined
      if (!identity || !Array.isArray(identity.methods)) {
        return c.json({ error: { code: 400, message: "'identity' is a required property", title: 'Bad Request' } }, 400)
      }
      if (!identity.methods.includes('password')) return c.json(unauthorized, 401)
      const user = identity.password?.user
      const known = typeof user?.['name'] === 'string' ? this.users.get(user['name']) : undefined
      const okUser = user && known && domainMatches(user['domain']) && user['password'] === known.password
      if (!okUser || !known) return c.json(unauthorized, 401)
      const scope = auth?.['scope'] as { project?: Record<string, unknown> } | undefined
      let scoped = false
      if (scope !== undefined) {
        const p = scope.project
        const okProject = p && ((p['name'] === known.project.name && domainMatches(p['domain'])) || p['id'] === known.project.id)
        if (!okProject) return c.json(unauthorized, 401)
        scoped = true
      }
      const now = this.cfg.now()
      const t: TokenRecord = { id: `gAAAAA${randomBytes(48).toString('base64url')}`, issuedAt: now, expiresAt: now + this.cfg.tokenTtlMs, scoped, user: known }
      this.tokens.set(t.id, t)
      c.header('X-Subject-Token', t.id)
      return c.json(this.tokenBody(t), 201)
    })

    // Keystone's identity:validate_token and identity:revoke_token: an admin (or service), or the token's own user.
    const forbidden = { error: { code: 403, message: 'You are not authorized to perform the requested action: identity:validate_token.', title: 'Forbidden' } }
    const validate = (caller: string | undefined, subject: string | undefined) => {
      if (!this.valid(caller)) return { status: 401 as const, body: unauthorized }
      const by = this.tokens.get(caller as string) as TokenRecord
      const privileged = by.scoped && by.user.roles.some((r) => r.name === 'admin' || r.name === 'service')
      if (!subject || !this.valid(subject)) {
        return {
          status: 404 as const,
          body: { error: { code: 404, message: `Could not find token: ${subject ?? ''}.`, title: 'Not Found' } },
        }
      }
      const t = this.tokens.get(subject) as TokenRecord
      if (!privileged && t.user.id !== by.user.id) return { status: 403 as const, body: forbidden }
      return { status: 200 as const, body: this.tokenBody(t) }
    }

    app.get('/auth/tokens', (c) => {
      this.validations += 1
      const subject = c.req.header('X-Subject-Token')
      const r = validate(c.req.header('X-Auth-Token'), subject)
      if (r.status === 200 && subject) c.header('X-Subject-Token', subject)
      return c.json(r.body, r.status)
    })
    app.on('HEAD', '/auth/tokens', (c) => {
      this.validations += 1
      const r = validate(c.req.header('X-Auth-Token'), c.req.header('X-Subject-Token'))
      return c.body(null, r.status)
    })
    app.delete('/auth/tokens', (c) => {
      const subject = c.req.header('X-Subject-Token')
      const r = validate(c.req.header('X-Auth-Token'), subject)
      if (r.status !== 200) return c.json(r.body, r.status)
      this.tokens.delete(subject as string)
      return c.body(null, 204)
    })
    return app
  }
}

export const unauthorizedBody = unauthorized
