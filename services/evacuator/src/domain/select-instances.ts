import { parseMasakariBool } from './masakari-bool.js'

/** What instance selection needs to know about a server on the failed host. */
export interface InstanceFacts {
  id: string
  name: string
  vmState: string | null
  metadata: Readonly<Record<string, string>>
}

export interface SelectionPolicy {
  /** Evacuate instances without the HA metadata too, after the HA-enabled ones. */
  evacuateAllInstances: boolean
  /** The metadata key that marks an instance HA-enabled (Masakari: `HA_Enabled`). */
  haEnabledMetadataKey: string
  /** Leave instances in vm_state `error` where they are. */
  ignoreInstancesInErrorState: boolean
}

export interface ChosenInstance {
  id: string
  name: string
  haEnabled: boolean
}

export interface SkippedInstance {
  id: string
  name: string
  reason: string
}

export interface Selection {
  /** In evacuation order: HA-enabled instances first, then the rest. */
  chosen: ChosenInstance[]
  skipped: SkippedInstance[]
  haEnabledCount: number
  total: number
}

/** Masakari's `prepare_HA_enabled_instances_task` as a pure decision. */
export const selectInstances = (servers: readonly InstanceFacts[], policy: SelectionPolicy): Selection => {
  const ha: ChosenInstance[] = []
  const rest: ChosenInstance[] = []
  const skipped: SkippedInstance[] = []
  for (const s of servers) {
    const haEnabled = parseMasakariBool(s.metadata[policy.haEnabledMetadataKey])
    if (policy.ignoreInstancesInErrorState && s.vmState === 'error') {
      skipped.push({ id: s.id, name: s.name, reason: `in error state, and instances in error state are ignored` })
      continue
    }
    if (haEnabled) ha.push({ id: s.id, name: s.name, haEnabled })
    else if (policy.evacuateAllInstances) rest.push({ id: s.id, name: s.name, haEnabled })
    else skipped.push({ id: s.id, name: s.name, reason: `not HA-enabled (metadata ${policy.haEnabledMetadataKey}), and only HA-enabled instances are evacuated` })
  }
  return { chosen: [...ha, ...rest], skipped, haEnabledCount: ha.length, total: servers.length }
}

/** The message of the `prepare_HA_enabled_instances_task` progress entry. */
export const describeSelection = (host: string, sel: Selection): string => {
  const parts = [
    `${sel.total} instance(s) on failed host ${host}, ${sel.haEnabledCount} HA-enabled`,
    sel.chosen.length === 0 ? 'no instance to evacuate' : `to evacuate, in order: ${sel.chosen.map((i) => `${i.name} (${i.id})`).join(', ')}`,
  ]
  if (sel.skipped.length > 0) parts.push(`skipped: ${sel.skipped.map((i) => `${i.name} (${i.id}): ${i.reason}`).join('; ')}`)
  return parts.join('; ')
}
