/**
 * The Placement resources Lazarus reads (resource providers, their inventories, usages and
 * traits), in Lazarus's own names. `placement-client.ts` maps Placement's JSON onto these.
 */

/** A resource provider; a compute host's root provider is named after its hypervisor hostname. */
export interface ResourceProvider {
  uuid: string
  name: string
  generation: number
  /** 1.14+: the provider it nests under (null for a root); undefined below 1.14. */
  parentProviderUuid: string | null | undefined
  /** 1.14+; undefined below. */
  rootProviderUuid: string | undefined
}

/** One inventory record of a provider, per resource class. */
export interface ProviderInventory {
  total: number
  reserved: number
  minUnit: number
  maxUnit: number
  stepSize: number
  /** capacity = (total - reserved) * allocationRatio */
  allocationRatio: number
}

/** A refusal from Placement, with its status and Placement's own words (`errors[0].detail`). */
export class PlacementError extends Error {
  override name = 'PlacementError'
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
    readonly request: string,
  ) {
    super(`${request} → ${status}: ${message}`)
  }
}

/** The Placement calls Lazarus makes (read only). Works against real Placement and cloud-sim. */
export interface PlacementClient {
  /** The Placement endpoint from the catalog; throws (KeystoneError) when the catalog has none. */
  endpoint(): Promise<string>
  /** The microversion agreed with the endpoint (read from its root document on first use). */
  microversion(): Promise<string>
  /** Providers with exactly this name (0 or 1: Placement names are unique). */
  providersNamed(name: string): Promise<ResourceProvider[]>
  /** Inventories per resource class (`VCPU`, `MEMORY_MB`, `DISK_GB`, custom classes...). */
  inventories(providerUuid: string): Promise<Record<string, ProviderInventory>>
  /** What is allocated on the provider now, per resource class. */
  usages(providerUuid: string): Promise<Record<string, number>>
  /** The provider's traits (1.6+), e.g. `COMPUTE_STATUS_DISABLED`. */
  traits(providerUuid: string): Promise<string[]>
}
