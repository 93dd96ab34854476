export { startCloudSim } from './cloud-sim.js'
export type { BmcFault, CloudSim, CloudSimOptions, NovaFaultSpec, SimHost, SimRecords, SimServer, SimServerSpec } from './options.js'
export { DEFAULT_FLAVORS, DEFAULT_HOST_RESOURCES, type HostResources, type SimFlavor } from './resources.js'
