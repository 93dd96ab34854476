import { describe, expect, it } from 'vitest'
import { evaluateInvariants, type ApiNotification, type FailedHost, type Observed, type SimHost, type SimServer } from './driver.js'

/** The chaos suite's judge catches each broken promise (and passes a clean run, cascades included). */
const host = (name: string, up: boolean): SimHost => ({
  name,
  power: up ? 'On' : 'Off',
  computeAlive: up,
  bmcFault: 'none',
  service: { state: up ? 'up' : 'down', status: 'enabled', forcedDown: !up },
})
const server = (id: string, on: string, status = 'ACTIVE'): SimServer => ({ id, name: id, host: on, status, taskState: null })
const note = (id: string, hostname: string, status = 'finished'): ApiNotification => ({ notification_uuid: id, hostname, status, message: null, type: 'COMPUTE_HOST' })

/** h1 failed (vm1, vm2 → h2), then h2 failed (vm1, vm2, vm3 → h3). */
const clean = (): { o: Observed; failed: FailedHost[] } => ({
  o: {
    records: {
      powerActions: [
        { host: 'h1', action: 'ForceOff', at: '2025-01-01T00:00:01.000Z' },
        { host: 'h2', action: 'ForceOff', at: '2025-01-01T00:00:10.000Z' },
      ],
      forcedDown: [],
      evacuations: [
        { serverId: 'vm1', from: 'h1', to: 'h2', at: '2025-01-01T00:00:02.000Z' },
        { serverId: 'vm2', from: 'h1', to: 'h2', at: '2025-01-01T00:00:02.500Z' },
        { serverId: 'vm1', from: 'h2', to: 'h3', at: '2025-01-01T00:00:11.000Z' },
        { serverId: 'vm2', from: 'h2', to: 'h3', at: '2025-01-01T00:00:11.000Z' },
        { serverId: 'vm3', from: 'h2', to: 'h3', at: '2025-01-01T00:00:11.000Z' },
      ],
    },
    servers: [server('vm1', 'h3'), server('vm2', 'h3'), server('vm3', 'h3'), server('vm4', 'h4')],
    hosts: [host('h1', false), host('h2', false), host('h3', true), host('h4', false)],
    notifications: [note('n1', 'h1'), note('n2', 'h2'), note('n4', 'h4', 'failed')],
    vmoves: {},
  },
  failed: [
    { host: 'h1', notificationId: 'n1', bmcHangs: false, instances: ['vm1', 'vm2'] },
    { host: 'h2', notificationId: 'n2', bmcHangs: false, instances: ['vm3'] },
    { host: 'h4', notificationId: 'n4', bmcHangs: true, instances: ['vm4'] },
  ],
})

describe('chaos invariants', () => {
  it('pass a clean run with a cascade and a hung BMC', () => {
    const { o, failed } = clean()
    const r = evaluateInvariants(o, failed)
    expect(r.violations).toEqual([])
    expect(r.recoveriesCompleted).toBe(2)
  })

  it('catch an instance evacuated twice from one host', () => {
    const { o, failed } = clean()
    o.records.evacuations.push({ serverId: 'vm3', from: 'h2', to: 'h3', at: '2025-01-01T00:00:12.000Z' })
    expect(evaluateInvariants(o, failed).violations).toEqual(['instance vm3 evacuated 2 times from h2'])
  })

  it('catch a move before the power off, and a second power off', () => {
    const { o, failed } = clean()
    o.records.evacuations[0]!.at = '2025-01-01T00:00:00.500Z'
    o.records.powerActions.push({ host: 'h2', action: 'ForceOff', at: '2025-01-01T00:00:20.000Z' })
    expect(evaluateInvariants(o, failed).violations).toEqual([
      'h1: instance vm1 moved at 2025-01-01T00:00:00.500Z, before any power off (2025-01-01T00:00:01.000Z)',
      'h2: powered off 2 times (want exactly 1)',
    ])
  })

  it('catch a move off a host whose BMC hangs', () => {
    const { o, failed } = clean()
    o.records.evacuations.push({ serverId: 'vm4', from: 'h4', to: 'h3', at: '2025-01-01T00:00:30.000Z' })
    o.servers[3] = server('vm4', 'h3')
    expect(evaluateInvariants(o, failed).violations).toEqual(['h4: BMC hangs (unfenced) yet 1 instances moved'])
  })

  it('catch a notification that never ended, or never was', () => {
    const { o, failed } = clean()
    o.notifications[1]!.status = 'running'
    failed.push({ host: 'h5', notificationId: undefined, bmcHangs: false, instances: [] })
    expect(evaluateInvariants(o, failed).violations).toEqual(['notification n2 (h2) ended running', 'h5: its notification (never accepted) is unknown to the api'])
  })

  it('catch an instance left behind unreported, and accept it once its failure is reported', () => {
    const { o, failed } = clean()
    o.records.evacuations = o.records.evacuations.filter((e) => e.serverId !== 'vm3')
    o.servers[2] = server('vm3', 'h2', 'ERROR')
    expect(evaluateInvariants(o, failed).violations).toEqual(['h2: instance vm3 is ERROR/- on h2 (up=false) and no failure was reported (notification finished)'])
    o.vmoves['n2'] = [{ instance_uuid: 'vm3', source_host: 'h2', dest_host: null, status: 'failed', message: 'no valid host' }]
    expect(evaluateInvariants(o, failed).violations).toEqual([])
  })
})
