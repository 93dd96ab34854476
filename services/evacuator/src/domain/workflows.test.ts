import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { DEFAULT_WORKFLOWS, workflowSetting } from './workflows.js'

describe('workflow settings', () => {
  const host = z.object({ w: workflowSetting('host') })

  it('defaults to Masakari flows', () => {
    expect(host.parse({}).w).toEqual(DEFAULT_WORKFLOWS.host)
  })

  it('reads a JSON string (environment) and an object (file)', () => {
    const w = { pre: [], main: ['prepare_HA_enabled_instances_task'], post: ['evacuate_instances_task'] }
    expect(host.parse({ w: JSON.stringify(w) }).w).toEqual(w)
    expect(host.parse({ w: { main: w.main, post: w.post } }).w).toEqual(w)
  })

  it('names an unknown task', () => {
    const r = host.safeParse({ w: { pre: ['disable_compute_service_task', 'reboot_host_task'] } })
    expect(r.success).toBe(false)
    expect(r.error?.issues.map((i) => i.message).join()).toContain('unknown host failure task "reboot_host_task" in pre')
  })

  it('refuses an evacuation that is not last, or with no instances chosen', () => {
    expect(host.safeParse({ w: { main: ['evacuate_instances_task', 'prepare_HA_enabled_instances_task'] } }).success).toBe(false)
    expect(host.safeParse({ w: { post: ['evacuate_instances_task'] } }).success).toBe(false)
  })

  it('refuses tasks out of order for instance and process failures', () => {
    expect(z.object({ w: workflowSetting('instance') }).safeParse({ w: { pre: ['start_instance_task'], main: ['stop_instance_task'] } }).success).toBe(false)
    expect(z.object({ w: workflowSetting('process') }).safeParse({ w: { pre: ['confirm_compute_node_disabled_task', 'disable_compute_node_task'] } }).success).toBe(false)
  })
})

describe('evacuator configuration', () => {
  it('stops at start naming an unknown task and its setting', async () => {
    const { loadConfig } = await import('@lazarus/runtime')
    const { EvacuatorSettings } = await import('../config.js')
    expect(() => loadConfig(EvacuatorSettings, { INSTANCE_FAILURE_RECOVERY_TASKS: '{"pre":["stop_instance_task"],"main":["reboot_instance_task"]}' })).toThrow(
      /INSTANCE_FAILURE_RECOVERY_TASKS.*unknown instance failure task "reboot_instance_task" in main/,
    )
    expect(loadConfig(EvacuatorSettings, { PROCESS_FAILURE_RECOVERY_TASKS: '{"pre":["disable_compute_node_task"]}' }).processFailureRecoveryTasks).toEqual({
      pre: ['disable_compute_node_task'],
      main: [],
      post: [],
    })
  })
})
