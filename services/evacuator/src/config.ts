import { DEFAULT_SERVICE_DISABLE_REASON } from '@lazarus/contracts'
import { openStackLayout, openStackSettings } from '@lazarus/openstack'
import { commonLayout, mergeLayouts, opsSettings, setting, type ServiceSettings } from '@lazarus/runtime'
import * as z from 'zod'
import { DEFAULT_WORKFLOWS, workflowSetting } from './domain/workflows.js'

/** How the evacuator recovers; names and defaults follow Masakari's `[host_failure]` and `[DEFAULT]`. */
export const EvacuatorSettings = z.object({
  hostFailureRecoveryThreads: setting
    .int(16, 1)
    .describe(
      "Evacuations in flight at Nova at once for one failure (one notification), in each evacuator process (Masakari: host_failure_recovery_threads, per notification too). Masakari's default, 3, evacuates a host of 6 instances in two waves; Nova builds up to 10 at once per target compute (max_concurrent_builds). 16 moves a typical host in one wave. All failures together are bounded by EVACUATIONS_IN_FLIGHT_MAX.",
    ),
  evacuationsInFlightMax: setting
    .int(32, 1)
    .describe(
      "Evacuations one evacuator process has in flight at Nova at once, all failures together: when a rack fails, what one process asks of Nova stays bounded while each failure keeps its own HOST_FAILURE_RECOVERY_THREADS. 32, as RH InstanceHA's threads: two failed hosts of a typical size move in one wave each.",
    ),
  lockInstances: setting
    .bool(true)
    .describe(
      "Lock each evacuated instance while its recovery runs (sent once its evacuate call is answered, lifted at the end), so that its owner cannot stop, start or reboot it between its rebuild and the restoring of its former state (Masakari locks every instance it evacuates, LP#1693728). false: no lock and no unlock, two fewer nova-api requests per instance; Nova still refuses the owner's actions while it rebuilds the instance (its task), but an owner's stop right after the rebuild may then be undone by the restoring step.",
    ),
  waitPeriodAfterEvacuation: z.coerce.number().positive().default(90).describe('Seconds to wait for Nova to confirm one evacuation (and one stop/start after it).'),
  evacuateAllInstances: setting.bool(true).describe('Evacuate every instance of a failed host; false: only those with the HA_Enabled metadata key set to True.'),
  haEnabledInstanceMetadataKey: z.string().min(1).default('HA_Enabled').describe('The instance metadata key that marks an instance for HA.'),
  ignoreInstancesInErrorState: setting.bool(false).describe('Leave instances in ERROR on a failed host instead of evacuating them.'),
  serviceDisableReason: z.string().min(1).default(DEFAULT_SERVICE_DISABLE_REASON).describe("disabled_reason of a failed host's nova-compute service."),
  confirmPollFirstMs: setting
    .int(50, 1)
    .describe(
      'First and longest pause between two looks at an evacuating server (it backs off from one to the other). Once a process has seen a few evacuations end, it looks at a server around when it should end every hundredth of the quickest recent one (at least 10 ms).',
    ),
  confirmPollMaxMs: setting.int(2000, 1).describe('The longest pause between two looks at an evacuating server.'),
  confirmPollTrackedMaxMs: setting
    .int(10_000, 1)
    .describe(
      "The longest pause between two looks at an evacuating server while Nova's migration list, which the evacuator reads once per look for every evacuation in flight and at least every CONFIRM_POLL_MAX_MS, answers: that list says when the evacuation ends, and the server is then read at once.",
    ),
  claimLeaseMs: setting
    .int(30_000, 1000)
    .describe('A worker holds a claim on its item for this long and renews it while working; a claim not renewed in time (the worker died) lets another worker resume the item.'),
  workerBeatMs: setting.int(500, 50).describe('How often each process tells the others, through the database, that it is alive.'),
  workerDeadAfterMs: setting
    .int(2000, 200)
    .describe(
      'A process not heard for this long is dead: its claims are free at once, whatever their lease had left, and the others resume its items (a crash costs about this much). Keep it at least three beats.',
    ),
  sweepIntervalMs: setting.int(10_000, 100).describe('How often each process looks for stranded work (expired claims, unannounced ends).'),
  requeueAfterMs: setting.int(300_000, 1000).describe('A work item still pending this long after it was published is published again.'),
  addReservedHostToAggregate: setting.bool(false).describe('Add a claimed reserved host to every aggregate of the failed host (Masakari: add_reserved_host_to_aggregate).'),
  refuseWhenOverCapacity: setting.bool(false).describe("Refuse to evacuate (the recovery fails) when Nova's hypervisor statistics say the instances do not fit; else warn."),
  processAllInstances: setting.bool(false).describe('Recover a failed instance without HA_Enabled metadata too (Masakari: [instance_failure] process_all_instances).'),
  instanceRestartLimit: z.coerce
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(3)
    .describe(
      "Recoveries of one instance within INSTANCE_RESTART_WINDOW_MS after which its next failure is not restarted: the VM is left stopped, the notification fails and an alert is raised (vSphere HA's maximum resets per window). 0: no limit.",
    ),
  instanceRestartWindowMs: z.coerce
    .number()
    .int()
    .min(1000)
    .max(30 * 86_400_000)
    .default(3_600_000)
    .describe('The sliding window of INSTANCE_RESTART_LIMIT (1 s to 30 days; default 1 h).'),
  waitPeriodAfterPowerOff: z.coerce.number().positive().default(180).describe('Seconds to wait for a stopped instance to be shut off (Masakari: wait_period_after_power_off).'),
  waitPeriodAfterPowerOn: z.coerce.number().positive().default(60).describe('Seconds to wait for a started instance to be ACTIVE (Masakari: wait_period_after_power_on).'),
  waitPeriodAfterServiceUpdate: z.coerce
    .number()
    .positive()
    .default(180)
    .describe('Seconds to wait for Nova to show a compute service disabled (Masakari: wait_period_after_service_update).'),
  hostFailureRecoveryTasks: workflowSetting('host').describe(
    'Tasks of each phase of a host recovery, e.g. {"pre":[],"main":["prepare_HA_enabled_instances_task"],"post":["evacuate_instances_task"]}.',
  ),
  instanceFailureRecoveryTasks: workflowSetting('instance').describe('Tasks of each phase of an instance recovery (JSON, as above).'),
  processFailureRecoveryTasks: workflowSetting('process').describe('Tasks of each phase of a process recovery (JSON, as above).'),
  restartGroupTimeoutS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(600)
    .describe(
      'How long a restart group (server metadata lazarus:restart_group) waits, from the start of the wave before it, for the groups it comes after (lazarus:restart_after) before it starts anyway; an instance may ask for less with lazarus:restart_group_timeout.',
    ),
  evacuationTargets: z
    .enum(['nova', 'planner'])
    .default('nova')
    .describe(
      "Who chooses where an instance goes at a scheduler round: nova (Nova's scheduler) or planner (the planner spreads the instances by Placement's inventories and usages, and each evacuation names its planned host, which Nova's scheduler still checks; a refused host falls back once to Nova's choice, and so does an instance the plan cannot fit, or every instance when Placement cannot be read).",
    ),
  recoveryRetryLimit: setting
    .int(1, 0)
    .describe('A host recovery that failed for some instances is run again for them this many times (Masakari re-runs a notification in error once, then marks it failed).'),
  recoveryRetryIntervalMs: setting.int(120_000, 0).describe('Pause before such a retry (Masakari: process_unfinished_notifications_interval, 120 s).'),
})
export type EvacuatorConfig = z.infer<typeof EvacuatorSettings>

export const defaultEvacuatorConfig = (): EvacuatorConfig => EvacuatorSettings.parse({})

/** Everything `main.ts` reads from the environment (or the LAZARUS_CONFIG file). */
export const EvacuatorMainSettings = EvacuatorSettings.extend({
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/' }).min(1).describe('RabbitMQ, e.g. amqp://user:pass@rabbit:5672/vhost'),
  databaseUrl: z.string().optional().describe('postgres://… in production; a path or `memory:` for PGlite (default: in memory).'),
  dbAutoMigrate: setting
    .bool(true)
    .describe('Apply pending database migrations at start (true), or only check the schema and refuse to start when one is missing (false: run `lazarus db migrate` first).'),
  dbPoolSize: setting
    .int(10, 1)
    .describe(
      "Connections to PostgreSQL (pool size). Up to `hostFailureRecoveryThreads` of them are opened at start and kept while idle, so that a recovery's first wave claims its items at once instead of first opening a connection each.",
    ),
  ...openStackSettings,
  ...opsSettings(9103),
})
export type EvacuatorMainConfig = z.infer<typeof EvacuatorMainSettings>

/**
 * The evacuator's file, /etc/lazarus/evacuator.conf: Masakari's `[host_failure]`,
 * `[instance_failure]` and `[DEFAULT]` names. The recovery flows sit in Masakari's
 * `[taskflow_driver_recovery_flows]` under names of their own: their value is JSON, not
 * Masakari's `pre:a,b` form.
 */
export const evacuatorSettings: ServiceSettings<typeof EvacuatorMainSettings> = {
  service: 'evacuator',
  schema: EvacuatorMainSettings,
  layout: mergeLayouts(
    {
      sections: {
        host_failure: {
          evacuateAllInstances: 'evacuate_all_instances',
          haEnabledInstanceMetadataKey: 'ha_enabled_instance_metadata_key',
          ignoreInstancesInErrorState: 'ignore_instances_in_error_state',
          addReservedHostToAggregate: 'add_reserved_host_to_aggregate',
          serviceDisableReason: 'service_disable_reason',
          restartGroupTimeoutS: 'restart_group_timeout',
          evacuationTargets: 'evacuation_targets',
          evacuationsInFlightMax: 'evacuations_in_flight_max',
          lockInstances: 'lock_instances',
        },
        instance_failure: { processAllInstances: 'process_all_instances', instanceRestartLimit: 'restart_limit', instanceRestartWindowMs: 'restart_window_ms' },
        taskflow_driver_recovery_flows: {
          hostFailureRecoveryTasks: 'host_failure_recovery_tasks',
          instanceFailureRecoveryTasks: 'instance_failure_recovery_tasks',
          processFailureRecoveryTasks: 'process_failure_recovery_tasks',
        },
      },
    },
    openStackLayout,
    commonLayout,
  ),
  computedDefaults: {
    hostFailureRecoveryTasks: JSON.stringify(DEFAULT_WORKFLOWS.host),
    instanceFailureRecoveryTasks: JSON.stringify(DEFAULT_WORKFLOWS.instance),
    processFailureRecoveryTasks: JSON.stringify(DEFAULT_WORKFLOWS.process),
  },
}
export type { Workflow, HostTask, InstanceTask, ProcessTask } from './domain/workflows.js'
