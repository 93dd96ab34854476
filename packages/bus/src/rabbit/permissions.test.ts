import { busRoles, topology } from '@lazarus/contracts'
import { describe, expect, it } from 'vitest'
import { names } from './names.js'
import { allServicePermissions, servicePermissions } from './permissions.js'

const matches = (re: string, s: string) => new RegExp(re).test(s)

describe('servicePermissions', () => {
  it('gives the fencer its two queues and their retry and dead queues, and the events it publishes, nothing else', () => {
    const p = servicePermissions('fencer')
    const queues = ['fencer.on-host-failed', 'fencer.on-unfence'].flatMap((q) => [q, `${q}.retry`, `${q}.dead`])
    for (const q of queues) {
      expect(matches(p.vhost.configure, q), q).toBe(true)
      expect(matches(p.vhost.read, q), q).toBe(true)
    }
    for (const other of ['api.on-progress', 'evacuator.on-host-fenced', 'fencer.on-host-failedx', 'xfencer.on-unfence', 'lazarus.events', 'amq.default', '']) {
      expect(matches(p.vhost.configure, other), other).toBe(false)
    }
    expect(matches(p.vhost.write, 'lazarus.events')).toBe(true)
    expect(matches(p.vhost.write, 'lazarus.retry')).toBe(true)
    expect(matches(p.vhost.write, 'amq.default')).toBe(false)
    const events = p.topics.find((t) => t.exchange === 'lazarus.events')!
    expect(matches(events.write, 'host.fenced.v1')).toBe(true)
    expect(matches(events.write, 'host.failed.v1')).toBe(false)
    expect(matches(events.write, 'hostXfenced.v1')).toBe(false) // dots are literal
    expect(matches(events.read, 'host.failed.v1')).toBe(true)
    expect(matches(events.read, 'host.unfence_requested.v1')).toBe(true)
    expect(matches(events.read, 'host.fenced.v1')).toBe(false)
    const retry = p.topics.find((t) => t.exchange === 'lazarus.retry')!
    expect(matches(retry.write, 'fencer.on-host-failed.retry')).toBe(true)
    expect(matches(retry.write, 'evacuator.work.retry')).toBe(false)
  })

  it('lets the evacuator bind host.failed to its own queue (its listing ahead of the fence), never publish it', () => {
    const p = servicePermissions('evacuator')
    for (const q of ['evacuator.on-host-failed', 'evacuator.on-host-failed.retry', 'evacuator.on-host-failed.dead']) {
      expect(matches(p.vhost.configure, q), q).toBe(true)
      expect(matches(p.vhost.read, q), q).toBe(true)
    }
    expect(matches(p.vhost.configure, 'fencer.on-host-failed')).toBe(false)
    const events = p.topics.find((t) => t.exchange === 'lazarus.events')!
    expect(matches(events.read, 'host.failed.v1')).toBe(true)
    expect(matches(events.read, 'host.fenced.v1')).toBe(true)
    expect(matches(events.write, 'host.failed.v1')).toBe(false)
    expect(matches(servicePermissions('fencer').vhost.configure, 'evacuator.on-host-failed')).toBe(false)
  })

  it('for every service: exactly the keys of its role, and every name under a namespace', () => {
    const n = names('t-1.')
    for (const p of allServicePermissions({ names: n })) {
      const role = busRoles[p.service]
      const events = p.topics.find((t) => t.exchange === 't-1.lazarus.events')!
      for (const spec of Object.values(topology)) {
        const own = (role.consumes as readonly string[]).some((q) => topology[q as keyof typeof topology].queue === spec.queue)
        expect(matches(p.vhost.configure, `t-1.${spec.queue}`), `${p.service} ${spec.queue}`).toBe(own)
        expect(matches(p.vhost.configure, spec.queue), `${p.service} ${spec.queue} without namespace`).toBe(false)
      }
      for (const t of ['host.failed.v1', 'host.fenced.v1', 'notification.received.v1', 'evacuation.requested.v1']) {
        expect(matches(events.write, t), `${p.service} ${t}`).toBe((role.publishes as readonly string[]).includes(t))
      }
    }
  })
})
