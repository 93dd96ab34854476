import { describe, expect, it } from 'vitest'
import { mapAlert } from './alertmanager.js'
import { mapEvent, parseTime, valueAt } from './map-event.js'
import { defaultMappingRules, MappingRulesError, parseMappingRules } from './rules.js'

const rules = defaultMappingRules
const T = '2026-05-01T10:00:00.000Z'

describe('mapEvent with the default rules', () => {
  it('passes a Masakari-shaped event through', () => {
    const r = mapEvent(rules, {
      type: 'COMPUTE_HOST',
      hostname: 'compute-1',
      generated_time: '2026-05-01 10:00:00',
      payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
    })
    expect(r).toEqual({
      kind: 'notification',
      notification: {
        type: 'COMPUTE_HOST',
        hostname: 'compute-1',
        generated_time: T,
        payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
      },
    })
  })

  it('maps a plain host-down event; no state means STOPPED, an unconfirmed power-off is UNKNOWN', () => {
    const r = mapEvent(rules, { type: 'host.down', host: 'compute-2', time: 1777629600 })
    expect(r).toMatchObject({
      kind: 'notification',
      notification: { type: 'COMPUTE_HOST', hostname: 'compute-2', generated_time: T, payload: { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' } },
    })
  })

  it("rejects an event time further ahead of the receiver's clock than the skew (the rule the api applies too)", () => {
    const now = new Date(T)
    const at = (s: number) => new Date(now.getTime() + s * 1000).toISOString()
    const map = (time: string, maxFutureSkewS?: number) => mapEvent(rules, { type: 'host.down', host: 'c1', time }, { now, maxFutureSkewS })
    expect(map(at(300)).kind).toBe('notification')
    expect(map(at(301))).toEqual({ kind: 'reject', reason: expect.stringMatching(/^generated_time 2026-05-01T10:05:01.000Z is 301 s ahead .* at most 300 s/) })
    expect(map(at(-86_400 * 365)).kind).toBe('notification')
    expect(map(at(61), 60).kind).toBe('reject')
    // The broker's timestamp, when the event has no time, is bounded the same way.
    expect(mapEvent(rules, { type: 'host.down', host: 'c1' }, { now, fallbackTime: new Date(now.getTime() + 3600_000) }).kind).toBe('reject')
    // An Alertmanager alert's startsAt too.
    const alert = { status: 'firing', labels: { alertname: 'NodeDown', instance: 'c1:9100' }, startsAt: at(3600), fingerprint: 'f' }
    expect(mapAlert(rules, alert, { now }).result).toMatchObject({ kind: 'reject', reason: expect.stringMatching(/ahead/) })
    expect(mapAlert(rules, { ...alert, startsAt: at(0) }, { now }).result.kind).toBe('notification')
  })

  it('maps an up state to STARTED', () => {
    const r = mapEvent(rules, { type: 'HostDown', host: 'c3', state: 'resolved', time: T })
    expect(r).toMatchObject({ kind: 'notification', notification: { payload: { event: 'STARTED', host_status: 'NORMAL', cluster_status: 'ONLINE' } } })
  })

  it('maps VM and PROCESS events', () => {
    const vm = mapEvent(rules, { type: 'vm.failed', host: 'c1', instance_uuid: '6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11', time: T })
    expect(vm).toMatchObject({
      kind: 'notification',
      notification: { type: 'VM', payload: { instance_uuid: '6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11', vir_domain_event: 'STOPPED_FAILED', event: 'LIFECYCLE' } },
    })
    // The notification as masakari-monitors' instancemonitor builds it (libvirt_handler/callback.py).
    const monitor = mapEvent(rules, {
      type: 'VM',
      hostname: 'c1',
      generated_time: T,
      payload: { event: 'IO_ERROR', instance_uuid: '6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11', vir_domain_event: 'IO_ERROR_REPORT' },
    })
    expect(monitor).toMatchObject({
      kind: 'notification',
      notification: { type: 'VM', payload: { instance_uuid: '6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11', vir_domain_event: 'IO_ERROR_REPORT', event: 'IO_ERROR' } },
    })
    const p = mapEvent(rules, { type: 'process.down', host: 'c1', process: 'nova-compute', time: T })
    expect(p).toMatchObject({ kind: 'notification', notification: { type: 'PROCESS', payload: { process_name: 'nova-compute', event: 'STOPPED' } } })
  })

  it('skips a VM recovery', () => {
    expect(mapEvent(rules, { type: 'vm.failed', host: 'c1', state: 'up', instance_uuid: '6f1c6b8e-4c1a-4b7e-9d2a-3a6e1f0b9c11', time: T }).kind).toBe('skip')
  })

  it('uses the fallback time (the broker timestamp) only when the event has none', () => {
    const fallbackTime = new Date(T)
    expect(mapEvent(rules, { type: 'host.down', host: 'c1' }, { fallbackTime })).toMatchObject({ notification: { generated_time: T } })
    expect(mapEvent(rules, { type: 'host.down', host: 'c1' })).toEqual({ kind: 'reject', reason: expect.stringMatching(/no time/) })
  })

  it.each([
    ['not an object', 'hello', /not a JSON object/],
    ['an array', [1], /not a JSON object \(array\)/],
    ['no type', { host: 'c1', time: T }, /no event type/],
    ['unknown type', { type: 'disk.full', host: 'c1', time: T }, /"disk.full" is not mapped/],
    ['no host', { type: 'host.down', time: T }, /no host name/],
    ['bad host', { type: 'host.down', host: 'bad$host', time: T }, /host name "bad\$host" is not valid/],
    ['unknown state', { type: 'host.down', host: 'c1', state: 'sleepy', time: T }, /state "sleepy"/],
    ['bad time', { type: 'host.down', host: 'c1', time: 'yesterday' }, /time "yesterday" at time is not a date-time/],
    ['bad instance uuid', { type: 'vm.failed', host: 'c1', instance_uuid: 'nope', time: T }, /payload.instance_uuid/],
    ['no process name', { type: 'process.down', host: 'c1', time: T }, /no process name/],
    ['bad host_status', { type: 'host.down', host: 'c1', host_status: 'MAYBE', time: T }, /payload.host_status/],
  ])('rejects %s with a reason', (_what, event, reason) => {
    const r = mapEvent(rules, event)
    expect(r.kind).toBe('reject')
    expect(r.kind === 'reject' ? r.reason : '').toMatch(reason)
  })
})

describe('configured rules', () => {
  it('reads the host, type, state and time where the rules say, merged over the defaults', () => {
    const custom = parseMappingRules(
      JSON.stringify({
        host: { from: ['source.node'], pattern: '^([a-z0-9-]+)\\.cloud\\.example$' },
        eventType: { from: ['kind'] },
        state: { from: ['level'], stopped: ['DOWN'], started: ['UP'] },
        computeHost: { eventTypes: ['node-lost'] },
      }),
    )
    expect(custom.vm).toEqual(defaultMappingRules.vm)
    expect(custom.state.default).toBe('STOPPED')
    const r = mapEvent(custom, { kind: 'Node-Lost', source: { node: 'cmp-7.cloud.example' }, level: 'down', time: T })
    expect(r).toMatchObject({ kind: 'notification', notification: { type: 'COMPUTE_HOST', hostname: 'cmp-7', payload: { event: 'STOPPED' } } })
    expect(mapEvent(custom, { type: 'host.down', host: 'c1', time: T }).kind).toBe('reject')
  })

  it('refuses bad rules with a message naming the key', () => {
    expect(() => parseMappingRules('{"host": {"from": []}}')).toThrow(/host.from/)
    expect(() => parseMappingRules('{"host": {"from": ["h"], "pattern": "("}}')).toThrow(/not a valid regular expression/)
    expect(() => parseMappingRules('{"hosts": {}}')).toThrow(MappingRulesError)
    expect(() => parseMappingRules('{nope')).toThrow(/not JSON/)
    expect(() => parseMappingRules('@/nonexistent/rules.json')).toThrow(/cannot read/)
    expect(parseMappingRules('')).toBe(defaultMappingRules)
  })
})

describe('paths and times', () => {
  it('finds keys that hold dots', () => {
    expect(valueAt({ labels: { 'kubernetes.io/hostname': 'n1' } }, 'labels.kubernetes.io/hostname')).toBe('n1')
    expect(valueAt({ a: { b: { c: 1 } } }, 'a.b.c')).toBe(1)
    expect(valueAt({ a: 1 }, 'a.b')).toBeUndefined()
  })
  it('reads ISO text, epoch seconds and milliseconds', () => {
    expect(parseTime('2026-05-01T12:00:00+02:00')?.toISOString()).toBe(T)
    expect(parseTime(1777629600000)?.toISOString()).toBe(T)
    expect(parseTime('1777629600')?.toISOString()).toBe(T)
    expect(parseTime('0001-01-01T00:00:00Z')).toBeUndefined()
  })
})

describe('Alertmanager alerts', () => {
  const alert = (over: Record<string, unknown> = {}) => ({
    status: 'firing',
    labels: { alertname: 'NodeDown', instance: 'compute-1:9100', severity: 'critical' },
    annotations: { summary: 'node down' },
    startsAt: '2026-05-01T10:00:00.123456789Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus/graph',
    fingerprint: 'a1b2c3',
    ...over,
  })

  it('maps a firing node-down alert to COMPUTE_HOST STOPPED at startsAt', () => {
    const m = mapAlert(rules, alert())
    expect(m).toMatchObject({ fingerprint: 'a1b2c3', status: 'firing' })
    expect(m.result).toEqual({
      kind: 'notification',
      notification: {
        type: 'COMPUTE_HOST',
        hostname: 'compute-1',
        generated_time: '2026-05-01T10:00:00.123Z',
        payload: { event: 'STOPPED', host_status: 'UNKNOWN', cluster_status: 'OFFLINE' },
      },
    })
  })

  it('maps a resolved one to STARTED at endsAt', () => {
    const m = mapAlert(rules, alert({ status: 'resolved', endsAt: '2026-05-01T10:05:00Z' }))
    expect(m.result).toMatchObject({ kind: 'notification', notification: { generated_time: '2026-05-01T10:05:00.000Z', payload: { event: 'STARTED' } } })
  })

  it('rejects alerts it cannot map, with the reason', () => {
    expect(mapAlert(rules, alert({ labels: { alertname: 'DiskFull', instance: 'c1' } })).result).toMatchObject({ kind: 'reject', reason: expect.stringMatching(/DiskFull/) })
    expect(mapAlert(rules, { fingerprint: 'x' })).toMatchObject({ fingerprint: 'x', result: { kind: 'reject', reason: expect.stringMatching(/not an Alertmanager alert/) } })
  })
})
