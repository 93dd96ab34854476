export * from './nova-types.js'
export { createOpenStackClient, DEFAULT_MAX_MICROVERSION } from './openstack-client.js'
export type { ComputeRequestOptions, OpenStackClient, OpenStackClientOptions } from './openstack-client.js'
export type { HttpResponse } from './http.js'
export { httpRequest } from './http.js'
export { discoverComputeVersions, parseVersionDocument } from './version-discovery.js'
export { createNovaClient } from './nova-client.js'
export type { NovaClientOptions } from './nova-client.js'
export { KeystoneError, OpenStackRequestError, faultMessage } from './errors.js'
export { TokenSession, authRequestBody, issueToken, findEndpoint, keystoneV3Url } from './keystone.js'
export type { Catalog, EndpointInterface, IssuedToken, KeystoneCredentials } from './keystone.js'
export { atLeast, compareMicroversions, negotiateMicroversion, parseMicroversion } from './microversion.js'
export {
  openStackSettings,
  openStackLayout,
  connectOpenStack,
  hasOpenStackSettings,
  openStackCredentialsGiven,
  resolveOpenStackOptions,
  type OpenStackSettings,
} from './settings.js'
export { loadCloud, cloudsFileCandidates, type CloudEntry, type CloudsSearch } from './clouds.js'
export { connectKeystoneCatalog, type CatalogEndpoint, type CatalogService, type KeystoneCatalogAdmin } from './keystone-catalog.js'
export { createPlacementClient, DEFAULT_MAX_PLACEMENT_MICROVERSION, placementFault, parsePlacementRoot, negotiatePlacement } from './placement-client.js'
export type { PlacementClientOptions } from './placement-client.js'
export { PlacementError, type PlacementClient, type ProviderInventory, type ResourceProvider } from './placement-types.js'
export {
  readSegmentInventory,
  flavorResources,
  INVENTORY_CLASSES,
  type ClassInventory,
  type HostInventory,
  type InstanceInventory,
  type InventoryClass,
  type ReadSegmentOptions,
  type SegmentInventory,
  type SegmentServerGroup,
} from './segment-inventory.js'
