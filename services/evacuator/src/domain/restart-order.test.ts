import { describe, expect, it } from 'vitest'
import type { ItemStatus } from './recovery.js'
import { inWorkOrder, orderChosen } from './restart-order.js'
import { wavesToRelease } from './restart-waves.js'

const chosen = (...ids: string[]) => ids.map((id) => ({ id, name: `vm-${id}`, haEnabled: false }))

describe('restart order of a host recovery', () => {
  it('given groups and priorities, then the work order is wave, then priority, then the selection’s order', () => {
    const servers = new Map([
      ['app', { metadata: { 'lazarus:restart_group': 'app', 'lazarus:restart_after': 'db', 'lazarus:restart_priority': '1' } }],
      ['db-low', { metadata: { 'lazarus:restart_group': 'db', 'lazarus:restart_priority': '5' } }],
      ['loose', { metadata: { 'lazarus:restart_priority': '2' } }],
      ['db-high', { metadata: { 'lazarus:restart_group': 'db', 'lazarus:restart_priority': '1' } }],
      ['plain-1', { metadata: {} }],
      ['plain-2', { metadata: {} }],
    ])
    const then = orderChosen(chosen('app', 'db-low', 'plain-1', 'loose', 'db-high', 'plain-2'), servers, [], 600)
    expect(inWorkOrder(then.instances).map((i) => i.id)).toEqual(['db-high', 'loose', 'plain-1', 'plain-2', 'db-low', 'app'])
  })

  it('given no restart metadata, then the work order is the selection’s', () => {
    const then = orderChosen(chosen('c', 'a', 'b'), new Map(), [], 600)
    expect(inWorkOrder(then.instances).map((i) => i.id)).toEqual(['c', 'a', 'b'])
  })

  it('given no restart metadata, then every instance is priority 3, ungrouped, wave 0, and no group exists', () => {
    const then = orderChosen(chosen('a', 'b'), new Map(), [], 600)
    expect(then.instances.map((i) => [i.id, i.priority, i.group, i.wave])).toEqual([
      ['a', 3, null, 0],
      ['b', 3, null, 0],
    ])
    expect(then.groups).toEqual([])
    expect(then.warnings).toEqual([])
  })

  it('given groups db ← app ← web and priorities from the server, the flavor and the aggregate, then waves are the groups’ levels', () => {
    const servers = new Map([
      ['web', { metadata: { 'lazarus:restart_group': 'web', 'lazarus:restart_after': 'app' } }],
      ['app', { metadata: { 'lazarus:restart_group': 'app', 'lazarus:restart_after': 'db', 'lazarus:restart_group_timeout': '30' } }],
      ['db', { metadata: { 'lazarus:restart_group': 'db', 'lazarus:restart_priority': '1' } }],
      ['f', { metadata: {}, flavor: { extraSpecs: { 'lazarus:restart_priority': '2' } } }],
    ])
    const then = orderChosen(chosen('web', 'app', 'db', 'f', 'plain'), servers, [{ 'lazarus:restart_priority': '4' }], 600)
    expect(then.instances.map((i) => [i.id, i.priority, i.group, i.wave])).toEqual([
      ['web', 4, 'web', 2],
      ['app', 4, 'app', 1],
      ['db', 1, 'db', 0],
      ['f', 2, null, 0],
      ['plain', 4, null, 0],
    ])
    expect(then.groups).toEqual([
      { name: 'app', after: ['db'], timeoutS: 30 },
      { name: 'db', after: [], timeoutS: 600 },
      { name: 'web', after: ['app'], timeoutS: 600 },
    ])
  })

  it('given groups waiting for each other, then the cycle is broken (one wave waits for the other, never both) and said', () => {
    const servers = new Map([
      ['a', { metadata: { 'lazarus:restart_group': 'a', 'lazarus:restart_after': 'b' } }],
      ['b', { metadata: { 'lazarus:restart_group': 'b', 'lazarus:restart_after': 'a' } }],
    ])
    const then = orderChosen(chosen('a', 'b'), servers, [], 600)
    expect(then.instances.map((i) => i.wave).sort()).toEqual([0, 1])
    expect(then.warnings.join(' ')).toContain('wait for each other')
  })

  it('given malformed metadata, then it is ignored and named in a warning', () => {
    const then = orderChosen(chosen('x'), new Map([['x', { metadata: { 'lazarus:restart_priority': 'urgent' } }]]), [], 600)
    expect(then.instances[0]).toMatchObject({ priority: 3, group: null, wave: 0 })
    expect(then.warnings[0]).toContain('instance vm-x (x)')
  })
})

describe('restart order and wave gates together', () => {
  /** A small deterministic generator (no clock, no Math.random): the same cases on every run. */
  const lcg = (seed: number) => () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }

  it('given any groups, cycles included, when no timeout ever passes, then finishing what was released always lets every wave start', () => {
    const rand = lcg(7)
    for (let run = 0; run < 200; run++) {
      const names = ['a', 'b', 'c', 'd', 'e'].slice(0, 1 + Math.floor(rand() * 5))
      const servers = new Map<string, { metadata: Record<string, string> }>()
      const ids: string[] = []
      for (let n = 0; n < 2 + Math.floor(rand() * 8); n++) {
        const id = `i${n}`
        ids.push(id)
        if (rand() < 0.2) continue // ungrouped
        const group = names[Math.floor(rand() * names.length)]!
        const after = names.filter(() => rand() < 0.4).join(',')
        servers.set(id, { metadata: { 'lazarus:restart_group': group, ...(after ? { 'lazarus:restart_after': after } : {}) } })
      }
      const order = orderChosen(chosen(...ids), servers, [], 600)
      const items = order.instances.map((i) => ({ instanceId: i.id, wave: i.wave, group: i.group, status: 'waiting' as ItemStatus }))
      let rounds = 0
      for (;;) {
        const decision = wavesToRelease({ items, groups: order.groups, lastStartAt: 0, now: 0 })
        if (!decision.release) break
        for (const it of items) if (it.status === 'waiting' && it.wave <= decision.upTo) it.status = 'succeeded'
        rounds++
      }
      expect(
        items.every((i) => i.status === 'succeeded'),
        `run ${run}: ${JSON.stringify(order.groups)}`,
      ).toBe(true)
      expect(rounds).toBeLessThanOrEqual(names.length + 1)
    }
  })
})
