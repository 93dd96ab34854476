import { describe, expect, it } from 'vitest'
import { parseMasakariBool } from './masakari-bool.js'
import { describeSelection, selectInstances, type InstanceFacts } from './select-instances.js'

const vm = (id: string, vmState: string, metadata: Record<string, string> = {}): InstanceFacts => ({ id, name: `vm-${id}`, vmState, metadata })
const policy = { evacuateAllInstances: true, haEnabledMetadataKey: 'HA_Enabled', ignoreInstancesInErrorState: false }

describe('parseMasakariBool', () => {
  it.each(['true', 'True', ' yes ', '1', 'on', 'ON', 'y', 't'])('%j is true', (v) => expect(parseMasakariBool(v)).toBe(true))
  it.each(['false', 'no', '0', 'off', '', 'enabled', 'truthy', undefined, null])('%j is false', (v) => expect(parseMasakariBool(v)).toBe(false))
})

describe('selectInstances', () => {
  it('puts HA-enabled instances first, then the rest, when evacuating all', () => {
    const sel = selectInstances([vm('a', 'active'), vm('b', 'active', { HA_Enabled: 'True' }), vm('c', 'stopped')], policy)
    expect(sel.chosen.map((i) => i.id)).toEqual(['b', 'a', 'c'])
    expect(sel.haEnabledCount).toBe(1)
    expect(sel.skipped).toEqual([])
  })

  it('takes only HA-enabled instances when evacuate_all_instances is false', () => {
    const sel = selectInstances([vm('a', 'active'), vm('b', 'active', { HA_Enabled: 'yes' }), vm('c', 'active', { HA_Enabled: 'no' })], {
      ...policy,
      evacuateAllInstances: false,
    })
    expect(sel.chosen.map((i) => i.id)).toEqual(['b'])
    expect(sel.skipped.map((i) => i.id)).toEqual(['a', 'c'])
  })

  it('reads the configured metadata key', () => {
    const sel = selectInstances([vm('a', 'active', { ha: 'on' }), vm('b', 'active', { HA_Enabled: 'true' })], {
      ...policy,
      evacuateAllInstances: false,
      haEnabledMetadataKey: 'ha',
    })
    expect(sel.chosen.map((i) => i.id)).toEqual(['a'])
  })

  it('leaves error instances, HA-enabled or not, when told to ignore them', () => {
    const servers = [vm('a', 'error', { HA_Enabled: 'true' }), vm('b', 'error'), vm('c', 'active')]
    expect(selectInstances(servers, { ...policy, ignoreInstancesInErrorState: true }).chosen.map((i) => i.id)).toEqual(['c'])
    expect(selectInstances(servers, policy).chosen.map((i) => i.id)).toEqual(['a', 'b', 'c'])
  })

  it('describes the choice for the progress entry', () => {
    const sel = selectInstances([vm('a', 'active'), vm('b', 'active', { HA_Enabled: '1' })], { ...policy, evacuateAllInstances: false })
    const text = describeSelection('compute-01', sel)
    expect(text).toContain('2 instance(s) on failed host compute-01, 1 HA-enabled')
    expect(text).toContain('vm-b (b)')
    expect(text).toContain('skipped: vm-a (a)')
  })
})
