import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeGroups, resolveRestartOrder, restartGroups, waves } from './restart-order.js'
import type { RestartGroup } from './types.js'

describe('resolveRestartOrder: priority', () => {
  it('server metadata beats the flavor, the flavor beats the aggregates, the aggregates beat the default', () => {
    const server = { 'lazarus:restart_priority': '1' }
    const flavorExtraSpecs = { 'lazarus:restart_priority': '2' }
    const aggregates = [{ 'lazarus:restart_priority': '4' }]
    expect(resolveRestartOrder({ server, flavorExtraSpecs, aggregates })).toMatchObject({ priority: 1, prioritySource: 'server', warnings: [] })
    expect(resolveRestartOrder({ flavorExtraSpecs, aggregates })).toMatchObject({ priority: 2, prioritySource: 'flavor' })
    expect(resolveRestartOrder({ aggregates })).toMatchObject({ priority: 4, prioritySource: 'aggregate' })
    expect(resolveRestartOrder({})).toEqual({ priority: 3, prioritySource: 'default', group: null, after: [], groupTimeoutS: null, warnings: [] })
  })

  it('takes the most urgent of several aggregates, whatever their order', () => {
    const a = { 'lazarus:restart_priority': '4' }
    const b = { 'lazarus:restart_priority': '2' }
    expect(resolveRestartOrder({ aggregates: [a, b] }).priority).toBe(2)
    expect(resolveRestartOrder({ aggregates: [b, a] }).priority).toBe(2)
  })

  it('ignores a malformed value, falls back to the next source and says so', () => {
    for (const bad of ['0', '6', '1.5', 'high', '', ' 12 ', 2, null]) {
      const order = resolveRestartOrder({ server: { 'lazarus:restart_priority': bad }, flavorExtraSpecs: { 'lazarus:restart_priority': '5' } })
      expect(order.priority).toBe(5)
      expect(order.prioritySource).toBe('flavor')
      expect(order.warnings).toHaveLength(1)
      expect(order.warnings[0]).toContain('server metadata lazarus:restart_priority')
    }
    const allBad = resolveRestartOrder({
      server: { 'lazarus:restart_priority': 'x' },
      flavorExtraSpecs: { 'lazarus:restart_priority': '9' },
      aggregates: [{ 'lazarus:restart_priority': '-1' }],
    })
    expect(allBad).toMatchObject({ priority: 3, prioritySource: 'default' })
    expect(allBad.warnings).toHaveLength(3)
  })

  it('accepts surrounding spaces', () => {
    expect(resolveRestartOrder({ server: { 'lazarus:restart_priority': ' 2 ' } }).priority).toBe(2)
  })
})

describe('resolveRestartOrder: group, dependencies, timeout', () => {
  it('reads them from server metadata', () => {
    const order = resolveRestartOrder({
      server: { 'lazarus:restart_group': 'web', 'lazarus:restart_after': 'db, cache,,db', 'lazarus:restart_group_timeout': '120' },
    })
    expect(order).toMatchObject({ group: 'web', after: ['cache', 'db'], groupTimeoutS: 120, warnings: [] })
  })

  it('ignores a malformed group name, and then the dependencies and timeout that need it', () => {
    const order = resolveRestartOrder({
      server: { 'lazarus:restart_group': 'web servers', 'lazarus:restart_after': 'db', 'lazarus:restart_group_timeout': '60' },
    })
    expect(order).toMatchObject({ group: null, after: [], groupTimeoutS: null })
    expect(order.warnings).toHaveLength(3)
    expect(resolveRestartOrder({ server: { 'lazarus:restart_group': 'x'.repeat(65) } }).group).toBeNull()
    expect(resolveRestartOrder({ server: { 'lazarus:restart_group': 'a.b_c-9' } }).group).toBe('a.b_c-9')
  })

  it('drops a malformed dependency name alone', () => {
    const order = resolveRestartOrder({ server: { 'lazarus:restart_group': 'web', 'lazarus:restart_after': 'db,no way,cache' } })
    expect(order.after).toEqual(['cache', 'db'])
    expect(order.warnings).toEqual([expect.stringContaining('"no way"')])
  })

  it('keeps a timeout of whole seconds from 1 to 3600 only', () => {
    const timeout = (v: unknown) => resolveRestartOrder({ server: { 'lazarus:restart_group': 'g', 'lazarus:restart_group_timeout': v } })
    expect(timeout('1').groupTimeoutS).toBe(1)
    expect(timeout('3600').groupTimeoutS).toBe(3600)
    for (const bad of ['0', '3601', '1.5', '-5', 'soon', 60]) {
      expect(timeout(bad).groupTimeoutS).toBeNull()
      expect(timeout(bad).warnings).toHaveLength(1)
    }
  })

  it('never throws, whatever the metadata holds', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('lazarus:restart_priority', 'lazarus:restart_group', 'lazarus:restart_after', 'lazarus:restart_group_timeout', 'other'), fc.anything()),
        (server) => {
          const order = resolveRestartOrder({ server, flavorExtraSpecs: server, aggregates: [server] })
          expect([1, 2, 3, 4, 5]).toContain(order.priority)
        },
      ),
    )
  })
})

describe('restartGroups', () => {
  it("builds each group's dependencies as the union over its members, its timeout the shortest asked", () => {
    const { groups, warnings } = restartGroups(
      [
        { id: 'a', group: 'web', after: ['db'], groupTimeoutS: 300 },
        { id: 'b', group: 'web', after: ['cache'], groupTimeoutS: 120 },
        { id: 'c', group: 'db', after: [], groupTimeoutS: null },
        { id: 'd', group: 'cache', after: [], groupTimeoutS: null },
        { id: 'e', group: null, after: [], groupTimeoutS: null },
      ],
      600,
    )
    expect(groups).toEqual([
      { name: 'cache', after: [], timeoutS: 600 },
      { name: 'db', after: [], timeoutS: 600 },
      { name: 'web', after: ['cache', 'db'], timeoutS: 120 },
    ])
    expect(warnings).toEqual([expect.stringContaining('120, 300')])
  })

  it('drops dependencies on unknown groups and on itself, with a warning', () => {
    const { groups, warnings } = restartGroups(
      [
        { id: 'a', group: 'web', after: ['ghost', 'web'], groupTimeoutS: null },
        { id: 'b', group: 'db', after: [], groupTimeoutS: null },
      ],
      60,
    )
    expect(groups.find((g) => g.name === 'web')?.after).toEqual([])
    expect(warnings).toHaveLength(2)
  })

  it('breaks a cycle deterministically and names it', () => {
    const members = [
      { id: '1', group: 'a', after: ['b'], groupTimeoutS: null },
      { id: '2', group: 'b', after: ['c'], groupTimeoutS: null },
      { id: '3', group: 'c', after: ['a'], groupTimeoutS: null },
    ]
    const one = restartGroups(members, 60)
    const other = restartGroups([...members].reverse(), 60)
    expect(one).toEqual(other)
    // Walking from a: a → b → c → a closes the cycle; c no longer waits for a.
    expect(one.groups).toEqual([
      { name: 'a', after: ['b'], timeoutS: 60 },
      { name: 'b', after: ['c'], timeoutS: 60 },
      { name: 'c', after: [], timeoutS: 60 },
    ])
    expect(one.warnings).toEqual(['restart groups wait for each other (a → b → c → a): c no longer waits for a'])
    expect(waves(one.groups)).toEqual([['c'], ['b'], ['a']])
  })
})

describe('waves', () => {
  it('gives topological levels, names sorted in each', () => {
    const groups: RestartGroup[] = [
      { name: 'web', after: ['app'], timeoutS: 60 },
      { name: 'app', after: ['db', 'mq'], timeoutS: 60 },
      { name: 'db', after: [], timeoutS: 60 },
      { name: 'mq', after: [], timeoutS: 60 },
      { name: 'batch', after: ['db'], timeoutS: 60 },
    ]
    expect(waves(groups)).toEqual([['db', 'mq'], ['app', 'batch'], ['web']])
  })

  it('survives a chain far longer than the stack is deep', () => {
    const groups = Array.from({ length: 20_000 }, (_, i) => ({ name: `g${i}`, after: i === 0 ? [] : [`g${i - 1}`], timeoutS: 1 }))
    const levels = waves(groups)
    expect(levels).toHaveLength(20_000)
    expect(levels[19_999]).toEqual(['g19999'])
  })

  it('on any graph (cycles, unknown names, duplicates): every group once, every kept dependency in an earlier wave', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')
    fc.assert(
      fc.property(fc.array(fc.record({ name, after: fc.array(fc.oneof(name, fc.constant('zz'))), timeoutS: fc.integer({ min: 0, max: 100 }) })), (groups) => {
        const { groups: safe } = normalizeGroups(groups)
        const levels = waves(groups)
        const levelOf = new Map(levels.flatMap((names, l) => names.map((n) => [n, l] as const)))
        expect([...levelOf.keys()].sort()).toEqual([...new Set(groups.map((g) => g.name))].sort())
        for (const g of safe) for (const a of g.after) expect(levelOf.get(a)!).toBeLessThan(levelOf.get(g.name)!)
        expect(normalizeGroups([...groups].reverse())).toEqual(normalizeGroups(groups))
      }),
    )
  })
})
