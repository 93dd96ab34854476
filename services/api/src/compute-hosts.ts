import { connectOpenStack, type OpenStackClient } from '@lazarus/openstack'
import { errorText, type Logger } from '@lazarus/runtime'
import { ApiError, badRequest } from './errors.js'

/**
 * Where the api checks that a host name is a compute host, as Masakari does on host create
 * and rename (`HostAPI._is_valid_host_name`: Nova's `GET /os-services?binary=nova-compute&host=NAME`,
 * which Nova filters by exact, case-sensitive equality).
 */
export interface ComputeHostDirectory {
  /** True when Nova has a nova-compute service on exactly this host name. */
  exists(name: string): Promise<boolean>
}

/** A directory over a Nova client (the real one, or cloud-sim's). */
export const novaComputeHosts = (nova: Pick<OpenStackClient['nova'], 'listComputeServices'>): ComputeHostDirectory => ({
  async exists(name) {
    const services = await nova.listComputeServices({ host: name })
    return services.some((s) => s.host === name)
  },
})

/**
 * A directory that connects to OpenStack on first use (so the api starts while Keystone is
 * down) and connects again after a failed attempt.
 */
export const lazyNovaComputeHosts = (connect: () => Promise<Pick<OpenStackClient, 'nova'>>): ComputeHostDirectory => {
  let client: Promise<Pick<OpenStackClient, 'nova'>> | undefined
  return {
    async exists(name) {
      client ??= connect()
      try {
        return await novaComputeHosts((await client).nova).exists(name)
      } catch (err) {
        client = undefined
        throw err
      }
    },
  }
}

export interface ComputeHostCheckSettings {
  computeHostCheck: 'auto' | 'nova' | 'off'
  osAuthUrl?: string | undefined
  osUsername?: string | undefined
  osPassword?: string | undefined
  osProjectName?: string | undefined
  osUserDomainName: string
  osProjectDomainName: string
  osRegionName?: string | undefined
  osInterface: 'public' | 'internal' | 'admin'
}

/**
 * The directory the settings ask for: `off` none; `auto` Nova when OS_AUTH_URL and the
 * OS_* credentials are set, else none (with a warning); `nova` Nova, and the api refuses
 * to start without its settings.
 */
export const computeHostsFromSettings = (s: ComputeHostCheckSettings, log: Logger): ComputeHostDirectory | undefined => {
  if (s.computeHostCheck === 'off') {
    log.warn('COMPUTE_HOST_CHECK=off: host names are not checked against Nova')
    return undefined
  }
  const { osAuthUrl, osUsername, osPassword, osProjectName } = s
  if (!osAuthUrl || !osUsername || !osPassword || !osProjectName) {
    if (s.computeHostCheck === 'nova') {
      throw new Error('COMPUTE_HOST_CHECK=nova needs OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (the api looks host names up in Nova)')
    }
    log.warn('OS_AUTH_URL (with OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME) is not set: host names are not checked against Nova')
    return undefined
  }
  log.info({ osAuthUrl }, 'host names are checked against Nova compute services')
  return lazyNovaComputeHosts(() =>
    connectOpenStack({
      osAuthUrl,
      osUsername,
      osPassword,
      osProjectName,
      osUserDomainName: s.osUserDomainName,
      osProjectDomainName: s.osProjectDomainName,
      ...(s.osRegionName ? { osRegionName: s.osRegionName } : {}),
      osInterface: s.osInterface,
    }),
  )
}

/**
 * Refuse a name Nova has no compute service for (400, Masakari's message). Nova unreachable
 * or failing: 503, nothing stored (the host can't be checked, so it is not taken on trust).
 */
export const assertComputeHost = async (dir: ComputeHostDirectory | undefined, name: string): Promise<void> => {
  if (!dir) return
  let found: boolean
  try {
    found = await dir.exists(name)
  } catch (err) {
    throw new ApiError(503, `Could not check host name ${name} with Nova: ${errorText(err)}`, { cause: err })
  }
  if (!found) throw badRequest(`Compute service with name ${name} could not be found.`)
}
