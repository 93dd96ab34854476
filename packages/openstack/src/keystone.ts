import * as z from 'zod'
import { KeystoneError, faultMessage } from './errors.js'
import { httpRequest } from './http.js'

export type EndpointInterface = 'public' | 'internal' | 'admin'

/**
 * Who Lazarus is to Keystone: a user's password scoped to a project, or an application
 * credential (by id, or by name with its user), which carries its own scope. `applicationCredentialSecret`
 * chooses the second. `ca`: PEM text of the CA bundle TLS to Keystone (and the endpoints
 * after it) is checked against.
 */
export interface KeystoneCredentials {
  authUrl: string
  username?: string | undefined
  password?: string | undefined
  projectName?: string | undefined
  userDomainName?: string | undefined
  projectDomainName?: string | undefined
  applicationCredentialId?: string | undefined
  applicationCredentialName?: string | undefined
  applicationCredentialSecret?: string | undefined
  ca?: string | undefined
}

/** The identity (and scope) of a token request, and how to name it in messages (never the secret). */
export const authRequestBody = (creds: KeystoneCredentials): { body: unknown; who: string } => {
  if (creds.applicationCredentialSecret !== undefined) {
    const secret = creds.applicationCredentialSecret
    if (creds.applicationCredentialId) {
      return {
        who: `application credential '${creds.applicationCredentialId}'`,
        body: { auth: { identity: { methods: ['application_credential'], application_credential: { id: creds.applicationCredentialId, secret } } } },
      }
    }
    if (creds.applicationCredentialName && creds.username) {
      return {
        who: `application credential '${creds.applicationCredentialName}' of user '${creds.username}'`,
        body: {
          auth: {
            identity: {
              methods: ['application_credential'],
              application_credential: {
                name: creds.applicationCredentialName,
                secret,
                user: { name: creds.username, domain: { name: creds.userDomainName ?? 'Default' } },
              },
            },
          },
        },
      }
    }
    throw new KeystoneError(undefined, 'an application credential needs its id, or its name and the user (username) it belongs to', undefined)
  }
  if (!creds.username || creds.password === undefined || !creds.projectName) {
    throw new KeystoneError(undefined, 'password authentication needs a username, a password and a project name (or give an application credential)', undefined)
  }
  return {
    who: `user '${creds.username}'`,
    body: {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: creds.username, domain: { name: creds.userDomainName ?? 'Default' }, password: creds.password } },
        },
        scope: { project: { name: creds.projectName, domain: { name: creds.projectDomainName ?? 'Default' } } },
      },
    },
  }
}

const CatalogSchema = z.array(
  z.looseObject({
    type: z.string(),
    name: z.string().optional(),
    endpoints: z.array(
      z.looseObject({
        interface: z.string(),
        url: z.string(),
        region_id: z.string().nullish(),
        region: z.string().nullish(),
      }),
    ),
  }),
)
export type Catalog = z.infer<typeof CatalogSchema>

const TokenBodySchema = z.looseObject({
  token: z.looseObject({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    catalog: CatalogSchema.optional(),
    project: z.looseObject({ id: z.string(), name: z.string() }).optional(),
  }),
})

export interface IssuedToken {
  token: string
  /** Keystone's expires_at. */
  expiresAt: Date
  /** How long Keystone said it lives (expires_at − issued_at), so clock skew does not matter. */
  lifetimeMs: number
  catalog: Catalog
  projectId: string | undefined
}

/** The Keystone v3 base URL: accepts `.../v3`, `.../v3/` or a bare `.../identity`. */
export const keystoneV3Url = (authUrl: string): string => {
  const trimmed = authUrl.replace(/\/+$/, '')
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`
}

/** `POST /v3/auth/tokens`: the password method scoped to the project, or an application credential. */
export const issueToken = async (creds: KeystoneCredentials, timeoutMs: number): Promise<IssuedToken> => {
  const url = `${keystoneV3Url(creds.authUrl)}/auth/tokens`
  const { body, who } = authRequestBody(creds)
  // Asking for a token twice does no harm, so one lost request is tried again.
  const send = () => httpRequest({ method: 'POST', url, timeoutMs, body, ca: creds.ca })
  const res = await send().catch(() => send())
  if (res.status !== 201 && res.status !== 200) {
    const why = faultMessage(res.body, res.statusText)
    throw new KeystoneError(res.status, `Keystone at ${url} refused a token for ${who} (${res.status}): ${why}`, res.body)
  }
  const token = res.headers.get('x-subject-token')
  if (!token) throw new KeystoneError(res.status, `Keystone at ${url} answered without an X-Subject-Token header`, res.body)
  const parsed = TokenBodySchema.safeParse(res.body)
  if (!parsed.success) throw new KeystoneError(res.status, `Keystone at ${url} answered with an unexpected token body: ${parsed.error.message}`, res.body)
  const expiresAt = new Date(parsed.data.token.expires_at)
  if (Number.isNaN(expiresAt.getTime())) throw new KeystoneError(res.status, `Keystone token has a bad expires_at '${parsed.data.token.expires_at}'`, res.body)
  const issuedAt = parsed.data.token.issued_at ? Date.parse(parsed.data.token.issued_at) : Number.NaN
  const lifetimeMs = Number.isNaN(issuedAt) ? expiresAt.getTime() - Date.now() : expiresAt.getTime() - issuedAt
  return { token, expiresAt, lifetimeMs, catalog: parsed.data.token.catalog ?? [], projectId: parsed.data.token.project?.id }
}

/** The URL of a service in the catalog, by type, interface and (if given) region. */
export const findEndpoint = (catalog: Catalog, query: { type: string; interface: EndpointInterface; region?: string | undefined }): string => {
  const services = catalog.filter((s) => s.type === query.type)
  if (services.length === 0) throw new KeystoneError(undefined, `the service catalog has no '${query.type}' service`, catalog)
  for (const service of services) {
    const found = service.endpoints.find((e) => e.interface === query.interface && (query.region === undefined || (e.region_id ?? e.region) === query.region))
    if (found) return found.url.replace(/\/+$/, '')
  }
  const region = query.region ? ` in region '${query.region}'` : ''
  throw new KeystoneError(undefined, `the '${query.type}' service has no ${query.interface} endpoint${region}`, catalog)
}

/**
 * Holds one token and renews it: a minute before it expires (or at half its life when it
 * lives shorter), and whenever a caller reports it rejected. Concurrent callers share one
 * authentication.
 */
export class TokenSession {
  private current: { issued: IssuedToken; renewAt: number } | undefined
  private pending: Promise<IssuedToken> | undefined

  constructor(
    private readonly creds: KeystoneCredentials,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async issued(): Promise<IssuedToken> {
    const cur = this.current
    if (cur && this.now() < cur.renewAt) return cur.issued
    return this.renew()
  }

  async token(): Promise<string> {
    return (await this.issued()).token
  }

  /** The token was refused (401): forget it, unless another caller already renewed it. */
  invalidate(token: string): void {
    if (this.current?.issued.token === token) this.current = undefined
  }

  private renew(): Promise<IssuedToken> {
    if (!this.pending) {
      const started = this.now()
      this.pending = issueToken(this.creds, this.timeoutMs)
        .then((issued) => {
          const life = Math.max(issued.lifetimeMs, 0)
          this.current = { issued, renewAt: started + life - Math.min(60_000, life / 2) }
          return issued
        })
        .finally(() => {
          this.pending = undefined
        })
    }
    return this.pending
  }
}
