export { createFencerService, type FencerDeps, type FencerService } from './service.js'
export { defaultFencerConfig, type FencerConfig } from './fencer-config.js'
export {
  createPowerDriver,
  createRedfishDriver,
  createNoneDriver,
  createIpmiDriver,
  createFenceAgentDriver,
  supportedDrivers,
  PowerConfigError,
  PowerDeviceError,
  type PowerDriver,
  type PowerStatus,
  type DriverOptions,
} from './adapters/power/index.js'
export { parseControlAttributes, type PowerSettings, type SecretRef } from './domain/control-attributes.js'
export { decideFence, stepsForLevel, remainingSteps, type FenceStep, type FenceState } from './domain/fence-plan.js'
export { createFenceLedger, type FenceLedger, type FenceRecord } from './adapters/db/fence-ledger.js'
