import { describe, expect, it } from 'vitest'
import { BUS_SERVICES, busRoles, topology, type QueueName } from './topology.js'

describe('busRoles', () => {
  it('gives every topology queue exactly one consumer service, the one its name starts with', () => {
    const owners = new Map<QueueName, string[]>()
    for (const svc of BUS_SERVICES) for (const q of busRoles[svc].consumes) owners.set(q, [...(owners.get(q) ?? []), svc])
    for (const [key, spec] of Object.entries(topology) as [QueueName, (typeof topology)[QueueName]][]) {
      expect(owners.get(key), key).toHaveLength(1)
      expect(spec.queue.startsWith(`${owners.get(key)![0]}.`), key).toBe(true)
    }
  })

  it('has a publisher for every key a queue is bound to', () => {
    const published = new Set(BUS_SERVICES.flatMap((s) => busRoles[s].publishes as readonly string[]))
    for (const spec of Object.values(topology)) for (const key of spec.bind) expect(published.has(key), `${spec.queue} ← ${key}`).toBe(true)
  })
})
