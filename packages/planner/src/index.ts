/**
 * The recovery planner of Lazarus, pure: where each instance of a failed host goes, in what
 * order, when it is expected ACTIVE, and how many host failures a segment can absorb. No I/O,
 * no clock, no randomness: the evacuator, the api and the CLI give it plain data and get plain data.
 */
export * from './types.js'
export {
  AFTER_KEY,
  GROUP_KEY,
  GROUP_NAME,
  GROUP_TIMEOUT_KEY,
  type GroupMember,
  MAX_GROUP_TIMEOUT_S,
  MIN_GROUP_TIMEOUT_S,
  normalizeGroups,
  PRIORITY_KEY,
  type PrioritySource,
  type RestartGroups,
  type RestartOrder,
  type RestartOrderSources,
  resolveRestartOrder,
  restartGroups,
  waves,
} from './restart-order.js'
export { capacityOf, planFailure } from './plan.js'
export { failoverCapacity, failureRequest } from './capacity.js'
export * from './from-inventory.js'
