import { createOpenStackClient, openStackCredentialsGiven, resolveOpenStackOptions, type OpenStackClient, type OpenStackSettings } from '@lazarus/openstack'
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

export type ComputeHostCheckSettings = Partial<OpenStackSettings> & { computeHostCheck: 'auto' | 'nova' | 'off' }

/**
 * The directory the settings ask for: `off` none; `auto` Nova when credentials are configured
 * (OS_CLOUD, or OS_AUTH_URL with a password or an application credential), else none (with a
 * warning); `nova` Nova, and the api refuses to start without its settings. The client's options
 * come from the shared OpenStack settings (clouds.yaml, secure.yaml, OS_CACERT), resolved at
 * start so a bad cloud or file stops the api there; only the Keystone URL is logged.
 */
export const computeHostsFromSettings = (s: ComputeHostCheckSettings, log: Logger): ComputeHostDirectory | undefined => {
  if (s.computeHostCheck === 'off') {
    log.warn('COMPUTE_HOST_CHECK=off: host names are not checked against Nova')
    return undefined
  }
  if (!openStackCredentialsGiven(s)) {
    if (s.computeHostCheck === 'nova') {
      throw new Error(
        'COMPUTE_HOST_CHECK=nova needs OpenStack credentials: OS_CLOUD, or OS_AUTH_URL with OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME or an application credential (the api looks host names up in Nova)',
      )
    }
    log.warn('no OpenStack credentials (OS_CLOUD, or OS_AUTH_URL with a password or an application credential): host names are not checked against Nova')
    return undefined
  }
  const options = resolveOpenStackOptions(s)
  log.info({ osAuthUrl: options.authUrl, ...(s.osCloud ? { osCloud: s.osCloud } : {}) }, 'host names are checked against Nova compute services')
  return lazyNovaComputeHosts(() => createOpenStackClient(options))
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
