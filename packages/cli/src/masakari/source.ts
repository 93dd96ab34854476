import { findEndpoint, issueToken, KeystoneError, type EndpointInterface, type KeystoneCredentials } from '@lazarus/openstack'
import * as z from 'zod'
import { networkReason } from '../api.js'
import { CliError, Exit } from '../errors.js'
import { MasakariHost, MasakariSegment, type MasakariState } from './plan.js'

/**
 * Reading a running Masakari: a Keystone token (password auth, the OS_* settings), its
 * `instance-ha` endpoint from the token's catalog (or the URL given), then every segment and
 * each segment's hosts through its v1 API.
 */

export interface MasakariSource {
  credentials: KeystoneCredentials
  region: string | undefined
  interface: EndpointInterface
  /** The Masakari v1 URL (`…/v1` or `…/v1/{project_id}`) instead of the catalog's. */
  url: string | undefined
  timeoutMs: number
}

/** Masakari 14 (Zed) serves 1.0–1.2; 1.2 adds the segment's `enabled`. */
const MICROVERSION = 'instance-ha 1.2'
const PAGE = 500

const SegmentPage = z.object({ segments: z.array(MasakariSegment) })
const HostPage = z.object({ hosts: z.array(MasakariHost) })

const faultText = (body: unknown): string => {
  if (body && typeof body === 'object') {
    for (const v of Object.values(body)) {
      if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return (v as { message: string }).message
    }
  }
  return typeof body === 'string' ? body.slice(0, 300) : ''
}

export const connectMasakari = async (src: MasakariSource): Promise<{ url: string; get<T>(path: string, schema: z.ZodType<T>): Promise<T> }> => {
  let issued
  try {
    issued = await issueToken(src.credentials, src.timeoutMs)
  } catch (err) {
    if (err instanceof KeystoneError) {
      const code = err.status === 401 || err.status === 403 ? Exit.auth : err.status === undefined ? Exit.unreachable : Exit.failed
      throw new CliError(`${err.message} — check --os-auth-url, --os-username, --os-password, --os-project-name (or OS_*)`, code)
    }
    throw new CliError(`cannot reach Keystone at ${src.credentials.authUrl}: ${networkReason(err)} — check --os-auth-url (or OS_AUTH_URL)`, Exit.unreachable)
  }
  let url: string
  if (src.url) url = src.url.replace(/\/+$/, '')
  else {
    try {
      url = findEndpoint(issued.catalog, { type: 'instance-ha', interface: src.interface, region: src.region })
    } catch (err) {
      throw new CliError(`${(err as Error).message} — give Masakari's URL with --masakari-url, or check --os-region-name / --os-interface`, Exit.failed)
    }
  }
  const get = async <T>(path: string, schema: z.ZodType<T>): Promise<T> => {
    let res: Response
    try {
      res = await fetch(`${url}${path}`, {
        headers: { 'X-Auth-Token': issued.token, 'OpenStack-API-Version': MICROVERSION, accept: 'application/json' },
        signal: AbortSignal.timeout(src.timeoutMs),
      })
    } catch (err) {
      throw new CliError(`cannot reach Masakari at ${url}: ${networkReason(err)}`, Exit.unreachable)
    }
    const text = await res.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = text
    }
    if (!res.ok) {
      const code = res.status === 401 || res.status === 403 ? Exit.auth : res.status === 404 ? Exit.notFound : Exit.failed
      throw new CliError(`Masakari GET ${url}${path}: ${res.status} ${res.statusText}: ${faultText(body)}`, code)
    }
    const parsed = schema.safeParse(body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new CliError(
        `Masakari GET ${url}${path}: unexpected answer (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}) — is that Masakari's v1 API?`,
        Exit.failed,
      )
    }
    return parsed.data
  }
  return { url, get }
}

/** Every segment (only those named in `only`, when given) with its hosts, in name order. */
export const readMasakari = async (src: MasakariSource, only: readonly string[] = []): Promise<{ url: string; state: MasakariState }> => {
  const m = await connectMasakari(src)
  const segments: MasakariSegment[] = []
  for (let marker: string | undefined; ; ) {
    const page = await m.get(`/segments?limit=${PAGE}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`, SegmentPage)
    segments.push(...page.segments)
    if (page.segments.length < PAGE) break
    marker = page.segments.at(-1)!.uuid
  }
  const wanted = only.length > 0 ? segments.filter((s) => only.includes(s.name)) : segments
  const missing = only.filter((n) => !segments.some((s) => s.name === n))
  if (missing.length > 0) throw new CliError(`Masakari at ${m.url} has no segment named ${missing.join(', ')}`, Exit.notFound)
  wanted.sort((a, b) => a.name.localeCompare(b.name))
  const state: MasakariState = []
  for (const segment of wanted) {
    const hosts: MasakariHost[] = []
    for (let marker: string | undefined; ; ) {
      const page = await m.get(`/segments/${encodeURIComponent(segment.uuid)}/hosts?limit=${PAGE}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`, HostPage)
      hosts.push(...page.hosts)
      if (page.hosts.length < PAGE) break
      marker = page.hosts.at(-1)!.uuid
    }
    hosts.sort((a, b) => a.name.localeCompare(b.name))
    state.push({ segment, hosts })
  }
  return { url: m.url, state }
}
