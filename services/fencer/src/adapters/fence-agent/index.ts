export {
  createFenceAgentDriver,
  fenceAgentCall,
  DEFAULT_AGENT_DIRS,
  FENCE_AGENT_OWN_KEYS,
  MIN_DEFAULT_AGENT_TIMEOUT_MS,
} from './fence-agent-driver.js'
export type { FenceAgentCall, FenceAgentDriverOptions } from './fence-agent-driver.js'
