import type { CatalogEndpoint, CatalogService, EndpointInterface } from '@lazarus/openstack'

/**
 * `lazarus keystone register`: what to change in Keystone's catalog so that it holds exactly
 * one service `name` of `type` and, in `region`, one endpoint per interface asked for, at the
 * URL asked for. Pure: the same catalog gives the same plan, and a catalog already right
 * gives an empty one (the command is idempotent). Endpoints of other regions are left alone.
 */

export interface Wanted {
  name: string
  type: string
  region: string
  urls: Partial<Record<EndpointInterface, string>>
}

export type ServiceStep = { kind: 'keep_service'; service: CatalogService } | { kind: 'create_service' }

export type EndpointStep =
  | { kind: 'create'; interface: EndpointInterface; url: string }
  | { kind: 'update'; id: string; interface: EndpointInterface; from: string; url: string }
  | { kind: 'keep'; id: string; interface: EndpointInterface; url: string }
  | { kind: 'delete'; id: string; interface: EndpointInterface; url: string; why: string }

/** The service of that type and name, if Keystone has one (the first, when several: the rest are reported by the caller). */
export const planService = (services: readonly CatalogService[], w: Pick<Wanted, 'name' | 'type'>): ServiceStep => {
  const mine = services.find((s) => s.type === w.type && s.name === w.name)
  return mine ? { kind: 'keep_service', service: mine } : { kind: 'create_service' }
}

const INTERFACES: readonly EndpointInterface[] = ['public', 'internal', 'admin']

/** The endpoint steps for one service's endpoints (none when the service is new). */
export const planEndpoints = (existing: readonly CatalogEndpoint[], w: Wanted): EndpointStep[] => {
  const steps: EndpointStep[] = []
  for (const iface of INTERFACES) {
    const url = w.urls[iface]
    if (url === undefined) continue
    const here = existing.filter((e) => e.interface === iface && (e.region_id ?? null) === w.region)
    const exact = here.find((e) => e.url === url)
    const kept = exact ?? here[0]
    if (!kept) steps.push({ kind: 'create', interface: iface, url })
    else if (kept.url === url) steps.push({ kind: 'keep', id: kept.id, interface: iface, url })
    else steps.push({ kind: 'update', id: kept.id, interface: iface, from: kept.url, url })
    for (const extra of here.filter((e) => e !== kept))
      steps.push({ kind: 'delete', id: extra.id, interface: iface, url: extra.url, why: `a second ${iface} endpoint in ${w.region}` })
  }
  return steps
}

/** An endpoint URL as Keystone stores it: http(s), no trailing slash, no credentials in it. */
export const endpointUrlProblem = (url: string): string | undefined => {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return 'not a URL'
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be http:// or https://'
  if (u.username || u.password) return 'must not hold credentials'
  return undefined
}
