export * from './bus.js'
export * from './errors.js'
export { createInProcessBus, type InProcessBusOptions } from './in-process.js'
export { matchesTopic } from './topic-match.js'
