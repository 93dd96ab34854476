import {
  createOpenStackClient,
  openStackCredentialsGiven,
  readSegmentInventory,
  resolveOpenStackOptions,
  type OpenStackClient,
  type OpenStackSettings,
  type SegmentInventory,
} from '@lazarus/openstack'
import { errorText, type Logger } from '@lazarus/runtime'
import { ApiError } from './errors.js'

/**
 * Where the api reads what its capacity and plan routes need about a segment's hosts: Nova's
 * compute services, servers, server groups and aggregates, Placement's inventories and usages
 * (`readSegmentInventory` of @lazarus/openstack). Built like the host name check
 * (compute-hosts.ts): the same OpenStack settings, a client made on first use and again after
 * a failure; none configured → no source, and the routes answer 503.
 */
export interface InventorySource {
  read(hostNames: readonly string[]): Promise<SegmentInventory>
}

/** A source over a client (the real one, or cloud-sim's). */
export const openStackInventory = (client: Pick<OpenStackClient, 'nova' | 'placement'>): InventorySource => ({
  read: (hostNames) => readSegmentInventory(client, hostNames),
})

/** Connects on first use (the api starts while Keystone is down) and again after a failed read. */
export const lazyInventory = (connect: () => Promise<Pick<OpenStackClient, 'nova' | 'placement'>>): InventorySource => {
  let client: Promise<Pick<OpenStackClient, 'nova' | 'placement'>> | undefined
  return {
    async read(hostNames) {
      client ??= connect()
      try {
        return await readSegmentInventory(await client, hostNames)
      } catch (err) {
        client = undefined
        throw err
      }
    },
  }
}

/** The source the OpenStack settings give (OS_CLOUD, or OS_AUTH_URL with credentials), or none. */
export const inventoryFromSettings = (s: Partial<OpenStackSettings>, log: Logger): InventorySource | undefined => {
  if (!openStackCredentialsGiven(s)) {
    log.info('no OpenStack credentials: GET /v1/segments/{id}/capacity and POST /v1/segments/{id}/plans answer 503, and capacity policies cannot be applied')
    return undefined
  }
  return lazyInventory(() => createOpenStackClient(resolveOpenStackOptions(s)))
}

export const NO_INVENTORY_MESSAGE =
  'Capacity and plans need Nova and Placement: the api has no OpenStack credentials (set OS_CLOUD, or OS_AUTH_URL with OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME or an application credential).'

/** Read, or a 503 naming the cause (never a 500). */
export const readInventory = async (source: InventorySource | undefined, hostNames: readonly string[], segment: string): Promise<SegmentInventory> => {
  if (!source) throw new ApiError(503, NO_INVENTORY_MESSAGE)
  try {
    return await source.read(hostNames)
  } catch (err) {
    throw new ApiError(503, `Could not read failover segment ${segment}'s hosts from Nova and Placement: ${errorText(err)}`, { cause: err })
  }
}
