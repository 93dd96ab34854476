import { findEndpoint, TokenSession, type EndpointInterface, type KeystoneCredentials } from './keystone.js'
import { httpRequest, type HttpResponse } from './http.js'
import { compareMicroversions, negotiateMicroversion, parseMicroversion } from './microversion.js'
import { createNovaClient } from './nova-client.js'
import type { NovaClient } from './nova-types.js'
import { createPlacementClient } from './placement-client.js'
import type { PlacementClient } from './placement-types.js'
import { discoverComputeVersions } from './version-discovery.js'

/** Keystone (`authUrl`, e.g. `https://keystone.example:5000/v3`; `/v3` is appended when missing), the credentials, and how to reach Nova. */
export interface OpenStackClientOptions extends KeystoneCredentials {
  regionName?: string
  /** Which catalog endpoint to use; default `public`. */
  interface?: EndpointInterface
  /** Deadline of each HTTP request; default 30 s. */
  timeoutMs?: number
  /**
   * The highest compute microversion Lazarus asks for; default 2.93.
   * Not higher by default: from 2.95 Nova lands every evacuated instance stopped, whatever
   * its state before, so an active instance would come back powered off.
   */
  maxMicroversion?: string
  /**
   * Speak exactly this compute microversion instead of negotiating one (e.g. '2.11' to use
   * the host-addressed service calls, or '2.1' for integer service ids). Refused when the
   * endpoint does not support it.
   */
  microversion?: string
  /** The highest Placement microversion Lazarus asks for; default 1.39. */
  maxPlacementMicroversion?: string
}

/** One call to the compute endpoint, answered whatever its status (for diagnostics and tests). */
export interface ComputeRequestOptions {
  body?: unknown
  /** Default: the client's microversion. */
  microversion?: string
  timeoutMs?: number
}

export interface OpenStackClient {
  nova: NovaClient
  /**
   * Placement (read only), made on first use: its endpoint comes from the catalog then, so a
   * cloud without Placement works for everything else and only these calls fail, saying so.
   */
  readonly placement: PlacementClient
  /** A valid Keystone token (renewed before it expires). */
  token(): Promise<string>
  /** The compute endpoint taken from the catalog. */
  readonly computeEndpoint: string
  /** The endpoint's microversion range, from its version document ('' when it has none). */
  readonly computeVersions: { min: string; max: string }
  /**
   * A raw compute request (`path` below the endpoint, e.g. `/os-services`) with the token and
   * microversion headers; any status is returned, never thrown. Lazarus's flows use `nova`.
   */
  computeRequest(method: string, path: string, opts?: ComputeRequestOptions): Promise<HttpResponse>
}

export const DEFAULT_MAX_MICROVERSION = '2.93'

/** Authenticate, find Nova in the catalog and agree a microversion with it (Placement: on first use). */
export const createOpenStackClient = async (opts: OpenStackClientOptions): Promise<OpenStackClient> => {
  const timeoutMs = opts.timeoutMs ?? 30_000
  const session = new TokenSession(opts, timeoutMs)
  const issued = await session.issued()
  const computeEndpoint = findEndpoint(issued.catalog, {
    type: 'compute',
    interface: opts.interface ?? 'public',
    region: opts.regionName,
  })
  const range = await discoverComputeVersions(computeEndpoint, issued.token, timeoutMs, opts.ca)
  const microversion =
    opts.microversion !== undefined ? pinnedMicroversion(range, opts.microversion, computeEndpoint) : negotiateMicroversion(range, opts.maxMicroversion ?? DEFAULT_MAX_MICROVERSION)
  const nova = createNovaClient({ endpoint: computeEndpoint, session, microversion, timeoutMs, ca: opts.ca })
  const computeRequest = async (method: string, path: string, o: ComputeRequestOptions = {}): Promise<HttpResponse> => {
    const version = o.microversion ?? microversion
    const send = async (retried: boolean): Promise<HttpResponse> => {
      const token = await session.token()
      const res = await httpRequest({
        method,
        url: `${computeEndpoint}${path}`,
        timeoutMs: o.timeoutMs ?? timeoutMs,
        body: o.body,
        ca: opts.ca,
        headers: { 'X-Auth-Token': token, 'OpenStack-API-Version': `compute ${version}`, 'X-OpenStack-Nova-API-Version': version },
      })
      if (res.status === 401 && !retried) {
        session.invalidate(token)
        return send(true)
      }
      return res
    }
    return send(false)
  }
  let placement: PlacementClient | undefined
  return {
    nova,
    get placement() {
      placement ??= createPlacementClient({
        session,
        interface: opts.interface ?? 'public',
        region: opts.regionName,
        timeoutMs,
        ca: opts.ca,
        ...(opts.maxPlacementMicroversion !== undefined ? { maxMicroversion: opts.maxPlacementMicroversion } : {}),
      })
      return placement
    },
    token: () => session.token(),
    computeEndpoint,
    computeVersions: range,
    computeRequest,
  }
}

/** An exact microversion the caller asked for, checked against the endpoint's range. */
const pinnedMicroversion = (range: { min: string; max: string }, wanted: string, endpoint: string): string => {
  const v = parseMicroversion(wanted)
  const min = range.min === '' ? '2.1' : range.min
  const max = range.max === '' ? '2.1' : range.max
  if (compareMicroversions(v, min) < 0 || compareMicroversions(v, max) > 0) {
    throw new Error(`compute microversion ${wanted} was asked for, but ${endpoint} supports ${min}–${max}`)
  }
  return `${v.major}.${v.minor}`
}
