import * as z from 'zod'

/**
 * The tasks an operator may list in each phase of each failure type's workflow, as
 * Masakari's `host_auto_failure_recovery_tasks`, `host_rh_failure_recovery_tasks`,
 * `instance_failure_recovery_tasks` and `process_failure_recovery_tasks` allow.
 */
export const TASKS = {
  host: ['disable_compute_service_task', 'prepare_HA_enabled_instances_task', 'evacuate_instances_task'],
  instance: ['stop_instance_task', 'start_instance_task', 'confirm_instance_active_task'],
  process: ['disable_compute_node_task', 'confirm_compute_node_disabled_task'],
} as const

export type FailureType = keyof typeof TASKS
export type HostTask = (typeof TASKS.host)[number]
export type InstanceTask = (typeof TASKS.instance)[number]
export type ProcessTask = (typeof TASKS.process)[number]

export interface Workflow<T extends string = string> {
  pre: T[]
  main: T[]
  post: T[]
}

/** Masakari's default flows. */
export const DEFAULT_WORKFLOWS: { host: Workflow<HostTask>; instance: Workflow<InstanceTask>; process: Workflow<ProcessTask> } = {
  host: { pre: ['disable_compute_service_task'], main: ['prepare_HA_enabled_instances_task'], post: ['evacuate_instances_task'] },
  instance: { pre: ['stop_instance_task'], main: ['start_instance_task'], post: ['confirm_instance_active_task'] },
  process: { pre: ['disable_compute_node_task'], main: ['confirm_compute_node_disabled_task'], post: [] },
}

/** Every task of a workflow, in the order it runs. */
export const tasksOf = <T extends string>(w: Workflow<T>): T[] => [...w.pre, ...w.main, ...w.post]

/** A workflow as configured: a JSON string (environment) or an object (LAZARUS_CONFIG file). */
const WorkflowInput = z.preprocess((v) => {
  if (typeof v !== 'string') return v
  try {
    return JSON.parse(v) as unknown
  } catch {
    return v
  }
}, z.object({ pre: z.array(z.string()).default([]), main: z.array(z.string()).default([]), post: z.array(z.string()).default([]) }).strict())

/** The zod setting for one failure type's workflow: unknown or misplaced tasks stop the service, named. */
export const workflowSetting = <F extends FailureType>(type: F) =>
  WorkflowInput.optional().transform((w, ctx): Workflow<(typeof TASKS)[F][number]> => {
    if (w === undefined) return DEFAULT_WORKFLOWS[type] as Workflow<(typeof TASKS)[F][number]>
    const known: readonly string[] = TASKS[type]
    for (const phase of ['pre', 'main', 'post'] as const) {
      for (const t of w[phase]) {
        if (!known.includes(t)) {
          ctx.addIssue({ code: 'custom', message: `unknown ${type} failure task "${t}" in ${phase}; known tasks: ${known.join(', ')}` })
        }
      }
    }
    const all = tasksOf(w)
    const dup = all.find((t, i) => all.indexOf(t) !== i)
    if (dup) ctx.addIssue({ code: 'custom', message: `task "${dup}" is listed twice` })
    if (type === 'host') {
      const e = all.indexOf('evacuate_instances_task')
      if (e >= 0 && e !== all.length - 1) ctx.addIssue({ code: 'custom', message: 'evacuate_instances_task must be the last host failure task' })
      if (e >= 0 && !all.includes('prepare_HA_enabled_instances_task')) {
        ctx.addIssue({ code: 'custom', message: 'evacuate_instances_task needs prepare_HA_enabled_instances_task before it' })
      }
    }
    if (type === 'instance') {
      const s = all.indexOf('stop_instance_task')
      const st = all.indexOf('start_instance_task')
      const c = all.indexOf('confirm_instance_active_task')
      if (s >= 0 && st >= 0 && s > st) ctx.addIssue({ code: 'custom', message: 'stop_instance_task must come before start_instance_task' })
      if (c >= 0 && st >= 0 && c < st) ctx.addIssue({ code: 'custom', message: 'confirm_instance_active_task must come after start_instance_task' })
    }
    if (type === 'process') {
      const d = all.indexOf('disable_compute_node_task')
      const c = all.indexOf('confirm_compute_node_disabled_task')
      if (d >= 0 && c >= 0 && c < d) ctx.addIssue({ code: 'custom', message: 'confirm_compute_node_disabled_task must come after disable_compute_node_task' })
    }
    return w as Workflow<(typeof TASKS)[F][number]>
  })
