export { createEvacuatorService, type EvacuatorDeps, type EvacuatorService } from './service.js'
export { EvacuatorSettings, EvacuatorMainSettings, defaultEvacuatorConfig, type EvacuatorConfig, type EvacuatorMainConfig } from './config.js'
export { EVACUATOR_MIGRATIONS } from './store/migrations.js'
