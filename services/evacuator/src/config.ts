import { DEFAULT_SERVICE_DISABLE_REASON } from '@lazarus/contracts'
import { openStackSettings } from '@lazarus/openstack'
import { opsSettings, setting } from '@lazarus/runtime'
import * as z from 'zod'
import { workflowSetting } from './domain/workflows.js'

/** How the evacuator recovers; names and defaults follow Masakari's `[host_failure]` and `[DEFAULT]`. */
export const EvacuatorSettings = z.object({
  /**
   * Evacuations one process has in flight at Nova at once (Masakari: host_failure_recovery_threads).
   * Masakari's default, 3, evacuates a host of 6 instances in two waves; Nova builds up to
   * 10 at once per target compute (max_concurrent_builds) and RH InstanceHA runs 32 threads.
   * 16 moves a typical host in one wave and still bounds what one process asks of Nova.
   */
  hostFailureRecoveryThreads: setting.int(16, 1),
  /** Seconds to wait for Nova to confirm one evacuation (and one stop/start after it). */
  waitPeriodAfterEvacuation: z.coerce.number().positive().default(90),
  evacuateAllInstances: setting.bool(true),
  haEnabledInstanceMetadataKey: z.string().min(1).default('HA_Enabled'),
  ignoreInstancesInErrorState: setting.bool(false),
  serviceDisableReason: z.string().min(1).default(DEFAULT_SERVICE_DISABLE_REASON),
  /**
   * First and longest pause between two looks at an evacuating server (it backs off from one
   * to the other). Once a process has seen a few evacuations end, it looks at a server around
   * when it should end every hundredth of the quickest recent one (at least 10 ms).
   */
  confirmPollFirstMs: setting.int(50, 1),
  confirmPollMaxMs: setting.int(2000, 1),
  /**
   * A worker holds a claim on its item for this long and renews it while working; a claim
   * not renewed in time (the worker died) lets another worker resume the item.
   */
  claimLeaseMs: setting.int(30_000, 1000),
  /** How often each process looks for stranded work (expired claims, unannounced ends). */
  sweepIntervalMs: setting.int(10_000, 100),
  /** A work item still pending this long after it was published is published again. */
  requeueAfterMs: setting.int(300_000, 1000),
  /** Add a claimed reserved host to every aggregate of the failed host (Masakari: add_reserved_host_to_aggregate). */
  addReservedHostToAggregate: setting.bool(false),
  /** Refuse to evacuate (the recovery fails) when Nova's hypervisor statistics say the instances do not fit; else warn. */
  refuseWhenOverCapacity: setting.bool(false),
  /** Recover a failed instance without HA_Enabled metadata too (Masakari: [instance_failure] process_all_instances). */
  processAllInstances: setting.bool(false),
  /** Seconds to wait for a stopped instance to be shut off (Masakari: wait_period_after_power_off). */
  waitPeriodAfterPowerOff: z.coerce.number().positive().default(180),
  /** Seconds to wait for a started instance to be ACTIVE (Masakari: wait_period_after_power_on). */
  waitPeriodAfterPowerOn: z.coerce.number().positive().default(60),
  /** Seconds to wait for Nova to show a compute service disabled (Masakari: wait_period_after_service_update). */
  waitPeriodAfterServiceUpdate: z.coerce.number().positive().default(180),
  /** Tasks of each phase of a host recovery, e.g. {"pre":[],"main":["prepare_HA_enabled_instances_task"],"post":["evacuate_instances_task"]}. */
  hostFailureRecoveryTasks: workflowSetting('host'),
  instanceFailureRecoveryTasks: workflowSetting('instance'),
  processFailureRecoveryTasks: workflowSetting('process'),
  /**
   * A host recovery that failed for some instances is run again for them this many times
   * (Masakari re-runs a notification in error once, then marks it failed).
   */
  recoveryRetryLimit: setting.int(1, 0),
  /** Pause before such a retry (Masakari: process_unfinished_notifications_interval, 120 s). */
  recoveryRetryIntervalMs: setting.int(120_000, 0),
})
export type EvacuatorConfig = z.infer<typeof EvacuatorSettings>

export const defaultEvacuatorConfig = (): EvacuatorConfig => EvacuatorSettings.parse({})

/** Everything `main.ts` reads from the environment (or the LAZARUS_CONFIG file). */
export const EvacuatorMainSettings = EvacuatorSettings.extend({
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/' }).min(1),
  databaseUrl: z.string().optional(),
  /**
   * Connections to PostgreSQL (pool size). Up to `hostFailureRecoveryThreads` of them are
   * opened at start and kept while idle, so that a recovery's first wave claims its items at
   * once instead of first opening a connection each.
   */
  dbPoolSize: setting.int(10, 1),
  ...openStackSettings,
  ...opsSettings(9103),
})
export type EvacuatorMainConfig = z.infer<typeof EvacuatorMainSettings>
