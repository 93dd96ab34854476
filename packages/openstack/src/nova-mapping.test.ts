import { describe, expect, it } from 'vitest'
import { toFlavor, toServer, toServerGroup } from './nova-mapping.js'

/** Nova's JSON for flavors embedded in servers and for server groups, at the microversions that change them. */

const server = { id: 's1', name: 'vm', status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'c1' }

describe('toServer: flavor and server groups', () => {
  it('reads the embedded flavor (2.47+) and server groups (2.71+), leaves them undefined below', () => {
    const modern = toServer({
      ...server,
      image: '',
      flavor: { vcpus: 2, ram: 4096, disk: 40, ephemeral: 5, swap: 512, original_name: 'm1.medium', extra_specs: { 'hw:cpu_policy': 'shared' } },
      server_groups: ['g1'],
    })
    expect(modern.flavor).toEqual({ name: 'm1.medium', vcpus: 2, ramMb: 4096, diskGb: 40, ephemeralGb: 5, swapMb: 512, extraSpecs: { 'hw:cpu_policy': 'shared' } })
    expect(modern.serverGroups).toEqual(['g1'])
    expect(modern.volumeBacked).toBe(true)
    const old = toServer({ ...server, image: { id: 'i1', links: [] }, flavor: { id: '3', links: [] } })
    expect(old.flavor).toBeUndefined()
    expect(old.serverGroups).toBeUndefined()
    expect(old.volumeBacked).toBe(false)
  })

  it('refuses a malformed embedded flavor or group list rather than carry a wrong number', () => {
    expect(() => toFlavor({ vcpus: -1, ram: 512, disk: 1 })).toThrow()
    expect(() => toFlavor({ vcpus: '2', ram: 512, disk: 1 })).toThrow()
    expect(() => toFlavor({ vcpus: 1.5, ram: 512, disk: 1 })).toThrow()
    expect(() => toFlavor({ vcpus: 1, ram: 512, disk: 1, extra_specs: { a: 1 } })).toThrow()
    expect(() => toServer({ ...server, server_groups: 'g1' })).toThrow()
  })
})

describe('toServerGroup', () => {
  it('reads policy and rules from 2.64, policies[0] before, and refuses a group with neither', () => {
    expect(toServerGroup({ id: 'g', name: 'n', policy: 'anti-affinity', rules: { max_server_per_host: 2 }, members: ['a'], project_id: 'p' })).toEqual({
      id: 'g',
      name: 'n',
      policy: 'anti-affinity',
      rules: { max_server_per_host: 2 },
      members: ['a'],
      projectId: 'p',
    })
    expect(toServerGroup({ id: 'g', name: 'n', policies: ['affinity'], members: [], metadata: {} })).toMatchObject({ policy: 'affinity', rules: {}, projectId: null })
    expect(() => toServerGroup({ id: 'g', name: 'n', members: [] })).toThrow(/neither 'policy' nor 'policies'/)
  })
})
