import { randomBytes, randomUUID } from 'node:crypto'
import { Hono } from 'hono'

/** Keystone v3, just enough: password tokens scoped to the one project, and validation. */

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
}

const DOMAIN = { id: 'default', name: 'Default' }
const USER_ID = 'a0d1f1e8c6a34d3f9d1b5a7e2c4b6d80'
const PROJECT_ID = '5f4e3d2c1b0a49e8a7b6c5d4e3f2a1b0'
const ROLES = [
  { id: '1e2d3c4b5a6948f7e6d5c4b3a2918070', name: 'admin' },
  { id: '2f3e4d5c6b7a4908f7e6d5c4b3a29181', name: 'member' },
  { id: '3a4f5e6d7c8b4a19e8f7d6c5b4a3a292', name: 'reader' },
]

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

  constructor(private readonly cfg: KeystoneConfig) {}

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
      { id: '1dent1ty000000000000000000000001', type: 'identity', name: 'keystone', endpoints: endpoints(`${base}/identity/v3`) },
    ]
  }

  private tokenBody(t: TokenRecord): Record<string, unknown> {
    const token: Record<string, unknown> = {
      methods: ['password'],
      user: { domain: DOMAIN, id: USER_ID, name: this.cfg.username, password_expires_at: null },
      audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
      expires_at: new Date(t.expiresAt).toISOString().replace('Z', '000Z'),
      issued_at: new Date(t.issuedAt).toISOString().replace('Z', '000Z'),
    }
    if (t.scoped) {
      token['project'] = { domain: DOMAIN, id: PROJECT_ID, name: this.cfg.projectName }
      token['is_domain'] = false
      token['roles'] = ROLES
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
      const okUser = user && user['name'] === this.cfg.username && domainMatches(user['domain']) && user['password'] === this.cfg.password
      if (!okUser) return c.json(unauthorized, 401)
      const scope = auth?.['scope'] as { project?: Record<string, unknown> } | undefined
      let scoped = false
      if (scope !== undefined) {
        const p = scope.project
        const okProject = p && ((p['name'] === this.cfg.projectName && domainMatches(p['domain'])) || p['id'] === PROJECT_ID)
        if (!okProject) return c.json(unauthorized, 401)
        scoped = true
      }
      const now = this.cfg.now()
      const t: TokenRecord = { id: `gAAAAA${randomBytes(48).toString('base64url')}`, issuedAt: now, expiresAt: now + this.cfg.tokenTtlMs, scoped }
      this.tokens.set(t.id, t)
      c.header('X-Subject-Token', t.id)
      return c.json(this.tokenBody(t), 201)
    })

    const validate = (caller: string | undefined, subject: string | undefined) => {
      if (!this.valid(caller)) return { status: 401 as const, body: unauthorized }
      if (!subject || !this.valid(subject)) {
        return {
          status: 404 as const,
          body: { error: { code: 404, message: `Could not find token: ${subject ?? ''}.`, title: 'Not Found' } },
        }
      }
      return { status: 200 as const, body: this.tokenBody(this.tokens.get(subject) as TokenRecord) }
    }

    app.get('/auth/tokens', (c) => {
      const subject = c.req.header('X-Subject-Token')
      const r = validate(c.req.header('X-Auth-Token'), subject)
      if (r.status === 200 && subject) c.header('X-Subject-Token', subject)
      return c.json(r.body, r.status)
    })
    app.on('HEAD', '/auth/tokens', (c) => {
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
