import * as z from 'zod'
import { httpRequest, type HttpResponse } from './http.js'
import { findEndpoint, type Catalog, type EndpointInterface, type TokenSession } from './keystone.js'
import { compareMicroversions, formatMicroversion, parseMicroversion } from './microversion.js'
import { PlacementError, type PlacementClient, type ProviderInventory, type ResourceProvider } from './placement-types.js'

/**
 * Lazarus's Placement client (read only): resource providers by name, their inventories,
 * usages and traits. The endpoint is looked up in the Keystone catalog on first use (service
 * type `placement`, same interface and region as compute), so a cloud without Placement works
 * for everything else and only these calls fail, naming why. Every answer is checked with zod:
 * a malformed one is a PlacementError, never a wrong number.
 */

export interface PlacementClientOptions {
  session: Pick<TokenSession, 'token' | 'invalidate' | 'issued'>
  interface: EndpointInterface
  region?: string | undefined
  timeoutMs: number
  ca?: string | undefined
  /** The highest Placement microversion asked for; default 1.39 (Zed to 2025.1). */
  maxMicroversion?: string
}

/** Every call Lazarus makes exists at 1.0 except traits (1.6); 1.14 adds the tree fields. */
export const DEFAULT_MAX_PLACEMENT_MICROVERSION = '1.39'
const TRAITS_SINCE = '1.6'

/** Placement's resource classes: standard (`VCPU`) or custom (`CUSTOM_*`). A key outside this is refused. */
const ResourceClassName = z.string().regex(/^[A-Z0-9_]{1,255}$/)
const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

const ProviderJson = z.looseObject({
  uuid: z.string().min(1),
  name: z.string(),
  generation: Count,
  parent_provider_uuid: z.string().nullish(),
  root_provider_uuid: z.string().optional(),
})
const ProvidersBody = z.looseObject({ resource_providers: z.array(ProviderJson) })

const InventoryJson = z.looseObject({
  total: Count,
  reserved: Count.default(0),
  min_unit: Count.default(1),
  max_unit: Count,
  step_size: Count.default(1),
  allocation_ratio: z.number().positive().finite().default(1),
})
const InventoriesBody = z.looseObject({ inventories: z.record(ResourceClassName, InventoryJson) })
const UsagesBody = z.looseObject({ usages: z.record(ResourceClassName, Count) })
const TraitsBody = z.looseObject({ traits: z.array(z.string()) })

const VersionJson = z.looseObject({ id: z.string().optional(), status: z.string().optional(), max_version: z.string(), min_version: z.string() })
const RootBody = z.looseObject({ versions: z.array(VersionJson).min(1) })

/** Placement's error body: `{"errors":[{"status","title","detail","code"}]}`; proxies answer with text. */
export const placementFault = (body: unknown, fallback: string): string => {
  if (typeof body === 'string') return body.trim() === '' ? fallback : body.trim().slice(0, 500)
  const errors = (body as { errors?: unknown } | null)?.errors
  if (Array.isArray(errors) && errors.length > 0) {
    const e = errors[0] as { detail?: unknown; title?: unknown }
    const text = typeof e.detail === 'string' && e.detail.trim() !== '' ? e.detail : e.title
    if (typeof text === 'string') return text.replace(/\s+/g, ' ').trim().slice(0, 500)
  }
  return fallback
}

/** The range of a Placement root document (`{"versions":[{"min_version","max_version"}]}`), the CURRENT entry first. */
export const parsePlacementRoot = (body: unknown, endpoint: string): { min: string; max: string } => {
  const r = RootBody.safeParse(body)
  if (!r.success) throw new PlacementError(200, `root document malformed: ${JSON.stringify(body)?.slice(0, 200)}`, body, `GET ${endpoint}/`)
  const v = r.data.versions.find((x) => x.status === 'CURRENT') ?? r.data.versions[0]!
  try {
    return { min: formatMicroversion(parseMicroversion(v.min_version)), max: formatMicroversion(parseMicroversion(v.max_version)) }
  } catch {
    throw new PlacementError(200, `root document has no usable version range (${v.min_version}–${v.max_version})`, body, `GET ${endpoint}/`)
  }
}

/** The highest version both sides speak, refused when none. */
export const negotiatePlacement = (range: { min: string; max: string }, ourMax: string, endpoint: string): string => {
  const chosen = compareMicroversions(range.max, ourMax) < 0 ? range.max : ourMax
  if (compareMicroversions(chosen, range.min) < 0) {
    throw new Error(`no common placement microversion: ${endpoint} supports ${range.min}–${range.max}, Lazarus at most ${ourMax}`)
  }
  return chosen
}

export const createPlacementClient = (opts: PlacementClientOptions): PlacementClient => {
  const { session, timeoutMs, ca } = opts
  const ourMax = opts.maxMicroversion ?? DEFAULT_MAX_PLACEMENT_MICROVERSION
  let endpointP: Promise<string> | undefined
  let versionP: Promise<string> | undefined

  const endpoint = (): Promise<string> => {
    endpointP ??= session.issued().then((issued) => findEndpoint(issued.catalog as Catalog, { type: 'placement', interface: opts.interface, region: opts.region }))
    // A failed lookup is tried again next time (the catalog may change with the next token).
    endpointP.catch(() => {
      endpointP = undefined
    })
    return endpointP
  }

  const microversion = (): Promise<string> => {
    versionP ??= (async () => {
      const url = await endpoint()
      const res = await httpRequest({ method: 'GET', url: `${url}/`, timeoutMs, ca, headers: { 'X-Auth-Token': await session.token() } })
      if (res.status < 200 || res.status >= 300) throw new PlacementError(res.status, placementFault(res.body, res.statusText), res.body, `GET ${url}/`)
      return negotiatePlacement(parsePlacementRoot(res.body, url), ourMax, url)
    })()
    versionP.catch(() => {
      versionP = undefined
    })
    return versionP
  }

  /** One GET. A 401 renews the token once; no answer is tried once more (reads are safe to repeat). */
  const get = async (path: string): Promise<{ res: HttpResponse; request: string }> => {
    const [url, version] = await Promise.all([endpoint(), microversion()])
    const request = `GET ${path}`
    const send = async (networkRetry: boolean, authRetry: boolean): Promise<HttpResponse> => {
      const token = await session.token()
      let res: HttpResponse
      try {
        res = await httpRequest({ method: 'GET', url: `${url}${path}`, timeoutMs, ca, headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': `placement ${version}` } })
      } catch (err) {
        if (networkRetry) return send(false, authRetry)
        throw err
      }
      if (res.status === 401 && authRetry) {
        session.invalidate(token)
        return send(networkRetry, false)
      }
      return res
    }
    const res = await send(true, true)
    if (res.status < 200 || res.status >= 300) throw new PlacementError(res.status, placementFault(res.body, res.statusText || `HTTP ${res.status}`), res.body, request)
    return { res, request }
  }

  const parsed = async <T extends z.ZodType>(path: string, schema: T): Promise<z.infer<T>> => {
    const { res, request } = await get(path)
    const r = schema.safeParse(res.body)
    if (!r.success) throw new PlacementError(res.status, `answer in an unexpected shape: ${z.prettifyError(r.error).slice(0, 500)}`, res.body, request)
    return r.data
  }

  const uuidPath = (uuid: string) => `/resource_providers/${encodeURIComponent(uuid)}`

  return {
    endpoint,
    microversion,

    providersNamed: async (name) => {
      const body = await parsed(`/resource_providers?name=${encodeURIComponent(name)}`, ProvidersBody)
      // Placement's filter is exact; a proxy dropping the query must not hand us another host.
      return body.resource_providers
        .filter((p) => p.name === name)
        .map(
          (p): ResourceProvider => ({
            uuid: p.uuid,
            name: p.name,
            generation: p.generation,
            parentProviderUuid: p.parent_provider_uuid,
            rootProviderUuid: p.root_provider_uuid,
          }),
        )
    },

    inventories: async (uuid) => {
      const body = await parsed(`${uuidPath(uuid)}/inventories`, InventoriesBody)
      const out: Record<string, ProviderInventory> = {}
      for (const [rc, i] of Object.entries(body.inventories)) {
        out[rc] = { total: i.total, reserved: i.reserved, minUnit: i.min_unit, maxUnit: i.max_unit, stepSize: i.step_size, allocationRatio: i.allocation_ratio }
      }
      return out
    },

    usages: async (uuid) => ({ ...(await parsed(`${uuidPath(uuid)}/usages`, UsagesBody)).usages }),

    traits: async (uuid) => {
      const version = await microversion()
      if (compareMicroversions(version, TRAITS_SINCE) < 0) throw new Error(`provider traits need placement microversion ${TRAITS_SINCE}; this endpoint speaks ${version}`)
      return (await parsed(`${uuidPath(uuid)}/traits`, TraitsBody)).traits
    },
  }
}
