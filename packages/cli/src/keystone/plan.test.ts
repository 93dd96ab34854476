import { describe, expect, it } from 'vitest'
import { endpointUrlProblem, planEndpoints, planService, type Wanted } from './plan.js'

const w: Wanted = { name: 'lazarus', type: 'instance-ha', region: 'RegionOne', urls: { public: 'https://l.example:15868', internal: 'http://10.0.0.5:15868' } }
const ep = (id: string, iface: 'public' | 'internal' | 'admin', url: string, region = 'RegionOne') => ({ id, service_id: 's', interface: iface, url, region_id: region })

describe('keystone register plan', () => {
  it('finds its own service by type and name, not Masakari of the same type', () => {
    expect(planService([{ id: 'm', name: 'masakari', type: 'instance-ha' }], w)).toEqual({ kind: 'create_service' })
    expect(
      planService(
        [
          { id: 'm', name: 'masakari', type: 'instance-ha' },
          { id: 'l', name: 'lazarus', type: 'instance-ha' },
        ],
        w,
      ),
    ).toMatchObject({ kind: 'keep_service', service: { id: 'l' } })
  })

  it('creates what is missing, keeps what is right, updates a changed URL, removes a second endpoint of one interface', () => {
    expect(planEndpoints([], w).map((s) => s.kind)).toEqual(['create', 'create'])
    expect(planEndpoints([ep('a', 'public', 'https://l.example:15868'), ep('b', 'internal', 'http://10.0.0.5:15868')], w).map((s) => s.kind)).toEqual(['keep', 'keep'])
    expect(planEndpoints([ep('a', 'public', 'https://old.example:15868'), ep('b', 'internal', 'http://10.0.0.5:15868')], w)).toEqual([
      { kind: 'update', id: 'a', interface: 'public', from: 'https://old.example:15868', url: 'https://l.example:15868' },
      { kind: 'keep', id: 'b', interface: 'internal', url: 'http://10.0.0.5:15868' },
    ])
    const dup = planEndpoints([ep('a', 'public', 'https://old.example'), ep('c', 'public', 'https://l.example:15868')], w)
    expect(dup.filter((s) => s.interface === 'public')).toEqual([
      { kind: 'keep', id: 'c', interface: 'public', url: 'https://l.example:15868' },
      { kind: 'delete', id: 'a', interface: 'public', url: 'https://old.example', why: 'a second public endpoint in RegionOne' },
    ])
  })

  it('leaves other regions and interfaces not asked for alone', () => {
    const steps = planEndpoints([ep('x', 'public', 'https://other.example', 'RegionTwo'), ep('y', 'admin', 'http://admin.example')], w)
    expect(steps.map((s) => `${s.kind} ${s.interface}`)).toEqual(['create public', 'create internal'])
  })

  it('takes only http(s) URLs without credentials', () => {
    expect(endpointUrlProblem('https://l.example:15868/v1/$(project_id)s')).toBeUndefined()
    expect(endpointUrlProblem('ftp://x')).toMatch(/http/)
    expect(endpointUrlProblem('https://u:p@x')).toMatch(/credentials/)
    expect(endpointUrlProblem('nope')).toBe('not a URL')
  })
})
