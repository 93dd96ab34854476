export { startCloudSim } from './cloud-sim.js'
export type { BmcFault, CloudSim, CloudSimOptions, NovaFaultSpec, SimHost, SimRecords, SimServer } from './options.js'
