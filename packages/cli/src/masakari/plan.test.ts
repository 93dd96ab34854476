import { describe, expect, it } from 'vitest'
import type { Host, Segment } from '@lazarus/api-contract'
import { fencingGap, planImport, type LazarusState, type MasakariHost, type MasakariSegment, type MasakariState } from './plan.js'

const mSeg = (name: string, extra: Partial<MasakariSegment> = {}): MasakariSegment => ({
  uuid: `m-${name}`,
  name,
  description: null,
  recovery_method: 'auto',
  service_type: 'COMPUTE',
  enabled: true,
  ...extra,
})
const mHost = (name: string, extra: Partial<MasakariHost> = {}): MasakariHost => ({
  uuid: `m-${name}`,
  name,
  type: 'COMPUTE',
  control_attributes: 'SSH',
  reserved: false,
  on_maintenance: false,
  ...extra,
})
const lSeg = (name: string, extra: Partial<Segment> = {}): Segment => ({
  uuid: `l-${name}`,
  name,
  description: null,
  recovery_method: 'auto',
  service_type: 'COMPUTE',
  enabled: true,
  quick_evacuate_level: 2,
  ...extra,
})
const lHost = (name: string, extra: Partial<Host> = {}): Host => ({
  uuid: `l-${name}`,
  name,
  type: 'COMPUTE',
  control_attributes: 'SSH',
  reserved: false,
  on_maintenance: false,
  ...extra,
})

const masakari: MasakariState = [
  { segment: mSeg('az1', { description: 'rack 1' }), hosts: [mHost('c1'), mHost('c2', { control_attributes: 'driver=ipmi address=10.0.0.2 username=fence password_env=PW' })] },
  { segment: mSeg('spares', { recovery_method: 'reserved_host', enabled: false }), hosts: [mHost('c3', { reserved: true, on_maintenance: true })] },
]

describe('planImport', () => {
  it('creates every segment and host into an empty Lazarus, in order, each host after its segment', () => {
    const plan = planImport(masakari, [])
    expect(plan.actions).toEqual([
      {
        kind: 'create_segment',
        segment: 'az1',
        body: { name: 'az1', description: 'rack 1', recovery_method: 'auto', service_type: 'COMPUTE', enabled: true },
      },
      {
        kind: 'create_host',
        segment: 'az1',
        host: 'c1',
        body: { name: 'c1', type: 'COMPUTE', control_attributes: 'SSH', reserved: false, on_maintenance: false },
      },
      {
        kind: 'create_host',
        segment: 'az1',
        host: 'c2',
        body: { name: 'c2', type: 'COMPUTE', control_attributes: 'driver=ipmi address=10.0.0.2 username=fence password_env=PW', reserved: false, on_maintenance: false },
      },
      {
        kind: 'create_segment',
        segment: 'spares',
        body: { name: 'spares', description: null, recovery_method: 'reserved_host', service_type: 'COMPUTE', enabled: false },
      },
      {
        kind: 'create_host',
        segment: 'spares',
        host: 'c3',
        body: { name: 'c3', type: 'COMPUTE', control_attributes: 'SSH', reserved: true, on_maintenance: true },
      },
    ])
    expect(plan.unchanged).toEqual({ segments: [], hosts: [] })
    expect(plan.differences).toEqual([])
    expect(plan.conflicts).toEqual([])
  })

  it('gives the segments it creates the chosen level', () => {
    const plan = planImport(masakari, [], { level: 1 })
    const segs = plan.actions.filter((a) => a.kind === 'create_segment')
    expect(segs.map((a) => (a.kind === 'create_segment' ? a.body.quick_evacuate_level : undefined))).toEqual([1, 1])
    expect(plan.fencing.map((g) => [g.host, g.level])).toEqual([
      ['c1', 1],
      ['c3', 1],
    ])
  })

  it('does nothing when Lazarus has it all, even after the operator changed fencing attributes and levels there', () => {
    const lazarus: LazarusState = [
      {
        segment: lSeg('az1', { description: 'rack 1', quick_evacuate_level: 3 }),
        hosts: [lHost('c1', { control_attributes: 'driver=redfish address=https://bmc1 username=u password_file=/etc/p' }), lHost('c2')],
      },
      { segment: lSeg('spares', { recovery_method: 'reserved_host', enabled: false }), hosts: [lHost('c3', { reserved: true, on_maintenance: true })] },
    ]
    const plan = planImport(masakari, lazarus)
    expect(plan.actions).toEqual([])
    expect(plan.unchanged).toEqual({ segments: ['az1', 'spares'], hosts: ['c1', 'c2', 'c3'] })
    expect(plan.differences).toEqual([])
    expect(plan.conflicts).toEqual([])
    // The report reads Lazarus's attributes: c1 has its BMC now; c2's were replaced by SSH there; c3 still SSH.
    expect(plan.fencing.map((g) => [g.host, g.level, g.controlAttributes])).toEqual([
      ['c2', 3, 'SSH'],
      ['c3', 2, 'SSH'],
    ])
  })

  it('adds only what is missing: a host of an existing segment, a segment of its own', () => {
    const lazarus: LazarusState = [{ segment: lSeg('az1', { description: 'rack 1' }), hosts: [lHost('c1')] }]
    const plan = planImport(masakari, lazarus)
    expect(plan.actions.map((a) => [a.kind, a.segment, a.kind === 'create_host' ? a.host : ''])).toEqual([
      ['create_host', 'az1', 'c2'],
      ['create_segment', 'spares', ''],
      ['create_host', 'spares', 'c3'],
    ])
    expect(plan.unchanged).toEqual({ segments: ['az1'], hosts: ['c1'] })
  })

  it('reports, and keeps, what Lazarus has that differs from Masakari (never writes over it)', () => {
    const lazarus: LazarusState = [
      { segment: lSeg('az1', { description: 'changed', recovery_method: 'auto_priority' }), hosts: [lHost('c1', { reserved: true }), lHost('c2', { on_maintenance: true })] },
    ]
    const plan = planImport(masakari, lazarus)
    expect(plan.actions.map((a) => a.kind)).toEqual(['create_segment', 'create_host'])
    expect(plan.differences).toEqual([
      'segment az1: recovery_method Masakari "auto", Lazarus "auto_priority"; description Masakari "rack 1", Lazarus "changed"',
      'host c1 (segment az1): reserved Masakari false, Lazarus true',
      'host c2 (segment az1): on_maintenance Masakari false, Lazarus true',
    ])
  })

  it('does not move a host that Lazarus has in another segment: a conflict, and the rest goes on', () => {
    const lazarus: LazarusState = [{ segment: lSeg('other'), hosts: [lHost('c3')] }]
    const plan = planImport(masakari, lazarus)
    expect(plan.conflicts).toEqual(['host c3: in Masakari segment spares but in Lazarus segment other; not moved'])
    expect(plan.actions.filter((a) => a.kind === 'create_host').map((a) => (a.kind === 'create_host' ? a.host : ''))).toEqual(['c1', 'c2'])
    expect(plan.fencing.map((g) => g.host)).toEqual(['c1'])
  })

  it('imports a name Masakari lists twice once, and says so', () => {
    const twice: MasakariState = [
      { segment: mSeg('a'), hosts: [mHost('h1')] },
      { segment: mSeg('a'), hosts: [mHost('h9')] },
      { segment: mSeg('b'), hosts: [mHost('h1')] },
    ]
    const plan = planImport(twice, [])
    expect(plan.actions.map((a) => (a.kind === 'create_host' ? `host ${a.host}` : `segment ${a.segment}`))).toEqual(['segment a', 'host h1', 'segment b'])
    expect(plan.conflicts).toHaveLength(2)
  })

  it('reports the hosts without a power driver with the level their failures get', () => {
    const m: MasakariState = [
      {
        segment: mSeg('s'),
        hosts: [
          mHost('free-text', { control_attributes: 'SSH' }),
          mHost('empty', { control_attributes: '' }),
          mHost('null', { control_attributes: null }),
          mHost('no-driver', { control_attributes: 'address=10.0.0.1 username=u' }),
          mHost('none', { control_attributes: 'driver=none quick_evacuate_level=1' }),
          mHost('redfish', { control_attributes: 'driver=redfish address=https://b/redfish/v1/Systems/1 username=u password_env=P' }),
          mHost('quoted', { control_attributes: `driver=fence_agent agent=fence_ipmilan address="10.0.0.9" username=u, password_file='/etc/x y'` }),
        ],
      },
    ]
    const plan = planImport(m, [], { level: 2 })
    expect(plan.fencing.filter((g) => g.everyLevel).map((g) => g.host)).toEqual(['free-text'])
    expect(plan.fencing.map((g) => [g.host, g.level, g.reason])).toEqual([
      ['free-text', 2, '"SSH" is not key=value: the fencer refuses these attributes at every level'],
      ['empty', 2, 'no control_attributes'],
      ['null', 2, 'no control_attributes'],
      ['no-driver', 2, 'names no driver='],
      ['none', 1, 'driver=none: force-down only, no power off'],
    ])
  })
})

describe('fencingGap', () => {
  it('accepts any named power driver, refuses stray words beside it at every level', () => {
    expect(fencingGap('driver=ipmi address=10.0.0.7 username=fence password_file=/etc/lazarus/bmc-07')).toBeUndefined()
    expect(fencingGap('driver=redfish,address=https://bmc/redfish/v1/Systems/1,username=u')).toBeUndefined()
    expect(fencingGap('driver=ipmi SSH')).toEqual({ reason: expect.stringMatching(/"SSH" is not key=value/), everyLevel: true })
    expect(fencingGap('   ')).toEqual({ reason: 'no control_attributes', everyLevel: false })
  })
})

describe('planImport with freeTextAttributes', () => {
  it('creates hosts whose Masakari attributes are free text with the given ones, and leaves the rest as Masakari has them', () => {
    const plan = planImport(masakari, [], { level: 1, freeTextAttributes: 'driver=none' })
    const hosts = plan.actions.flatMap((a) => (a.kind === 'create_host' ? [[a.host, a.body.control_attributes]] : []))
    expect(hosts).toEqual([
      ['c1', 'driver=none'],
      ['c2', 'driver=ipmi address=10.0.0.2 username=fence password_env=PW'],
      ['c3', 'driver=none'],
    ])
    expect(plan.fencing.map((g) => [g.host, g.level, g.everyLevel])).toEqual([
      ['c1', 1, false],
      ['c3', 1, false],
    ])
  })

  it('never rewrites a host Lazarus already has', () => {
    const plan = planImport(masakari, [{ segment: lSeg('az1', { description: 'rack 1' }), hosts: [lHost('c1'), lHost('c2')] }], { freeTextAttributes: 'driver=none' })
    expect(plan.actions.filter((a) => a.kind === 'create_host').map((a) => (a.kind === 'create_host' ? a.host : ''))).toEqual(['c3'])
    expect(plan.fencing.find((g) => g.host === 'c1')).toMatchObject({ controlAttributes: 'SSH', everyLevel: true })
  })
})
