import { DEFAULT_SERVICE_DISABLE_REASON } from '@lazarus/contracts'
import { DEFAULT_BMC_SECRET_DIR } from './domain/fence-plan.js'

/** How the fencer paces and bounds a fence. */
export interface FencerConfig {
  /** Pause between power-status checks after a power off. */
  fenceCheckIntervalMs: number
  /** Power-status checks before a host that does not report off fails the fence. */
  fenceCheckMaxCount: number
  /** Pause between Nova service-state checks. */
  novaDownCheckIntervalMs: number
  /** Level 3: how long to wait for Nova's heartbeat timeout to mark the service down. */
  novaDownMaxWaitMs: number
  /** Levels 1 and 2: how long Nova may take to show the forced-down service as down. */
  forceDownConfirmTimeoutMs: number
  /** Deadline of each request to a BMC or power device. */
  powerRequestTimeoutMs: number
  /** A fence claim not renewed for this long may be taken over by another replica. */
  leaseMs: number
  /** How often this process says it is alive in the ledger (fencer_workers). */
  workerBeatMs: number
  /** A process not heard for this long is dead: its claims may be taken over at once (domain/claim-takeover.ts). */
  workerDeadAfterMs: number
  /** A process that could not say it is alive stops acting this long before the others may see it dead. */
  workerSafetyMs: number
  /** Unfence: power a host that is off on before giving it back to Nova (UNFENCE_POWER_ON). */
  unfencePowerOn: boolean
  /** Unfence: how long to keep asking Nova to clear forced_down while it refuses (e.g. `done` evacuations remain). */
  unfenceMaxWaitMs: number
  /** Unfence: first pause between those attempts; it doubles up to 30 s. */
  unfenceRetryIntervalMs: number
  /**
   * The disabled_reason the nova-compute service is disabled with in the same call as the
   * force-down (FENCE_DISABLE_REASON); null: only force it down (the evacuator disables it then).
   */
  disableReason: string | null
  /** BMC_SECRET_DIR: `password_file=` must name a regular file under this directory (symlinks resolved). */
  bmcSecretDir: string
  /** BMC_PASSWORD_ENV_ALLOW: the environment variables `password_env=` may name; none by default. */
  bmcPasswordEnvAllow: readonly string[]
  /** FENCE_KDUMP_PORT: the UDP port to hear fence_kdump messages on (7410 is fence_kdump's); 0: not listening. */
  kdumpPort: number
  /** FENCE_KDUMP_ADDRESS: the address that port is bound to. */
  kdumpAddress: string
  /** FENCE_KDUMP_IDLE_MS: silence after which a host's dump counts as ended; also the grace for its first message. */
  kdumpIdleMs: number
  /** FENCE_KDUMP_MAX_WAIT_MS: the longest a power off waits for a host's dump. */
  kdumpMaxWaitMs: number
}

export const defaultFencerConfig: FencerConfig = {
  fenceCheckIntervalMs: 1000,
  fenceCheckMaxCount: 30,
  novaDownCheckIntervalMs: 1000,
  // Nova's service_down_time is 60 s; leave room for a report that just arrived.
  novaDownMaxWaitMs: 180_000,
  forceDownConfirmTimeoutMs: 10_000,
  powerRequestTimeoutMs: 10_000,
  leaseMs: 30_000,
  workerBeatMs: 500,
  workerDeadAfterMs: 2000,
  workerSafetyMs: 500,
  unfencePowerOn: false,
  // Nova refuses to clear forced_down until the host's compute restarts and completes its
  // `done` evacuations; an operator usually boots the host within minutes.
  unfenceMaxWaitMs: 600_000,
  unfenceRetryIntervalMs: 1000,
  disableReason: DEFAULT_SERVICE_DISABLE_REASON,
  bmcSecretDir: DEFAULT_BMC_SECRET_DIR,
  bmcPasswordEnvAllow: [],
  kdumpPort: 0,
  kdumpAddress: '0.0.0.0',
  // fence_kdump_send sends every 10 s by default: three missed messages mean the dump is over.
  kdumpIdleMs: 30_000,
  kdumpMaxWaitMs: 600_000,
}
