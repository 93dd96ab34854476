import { findEndpoint, TokenSession, type EndpointInterface } from './keystone.js'
import { negotiateMicroversion } from './microversion.js'
import { createNovaClient } from './nova-client.js'
import type { NovaClient } from './nova-types.js'
import { discoverComputeVersions } from './version-discovery.js'

export interface OpenStackClientOptions {
  /** Keystone, e.g. `https://keystone.example:5000/v3` (a URL without `/v3` gets it appended). */
  authUrl: string
  username: string
  password: string
  projectName: string
  userDomainName?: string
  projectDomainName?: string
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
}

export interface OpenStackClient {
  nova: NovaClient
  /** A valid Keystone token (renewed before it expires). */
  token(): Promise<string>
  /** The compute endpoint taken from the catalog. */
  readonly computeEndpoint: string
}

export const DEFAULT_MAX_MICROVERSION = '2.93'

/** Authenticate, find Nova in the catalog and agree a microversion with it. */
export const createOpenStackClient = async (opts: OpenStackClientOptions): Promise<OpenStackClient> => {
  const timeoutMs = opts.timeoutMs ?? 30_000
  const session = new TokenSession(opts, timeoutMs)
  const issued = await session.issued()
  const computeEndpoint = findEndpoint(issued.catalog, {
    type: 'compute',
    interface: opts.interface ?? 'public',
    region: opts.regionName,
  })
  const range = await discoverComputeVersions(computeEndpoint, issued.token, timeoutMs)
  const microversion = negotiateMicroversion(range, opts.maxMicroversion ?? DEFAULT_MAX_MICROVERSION)
  const nova = createNovaClient({ endpoint: computeEndpoint, session, microversion, timeoutMs })
  return { nova, token: () => session.token(), computeEndpoint }
}
