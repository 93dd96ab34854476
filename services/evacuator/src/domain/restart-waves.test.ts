import { describe, expect, it } from 'vitest'
import type { ItemStatus } from './recovery.js'
import { byWorkOrder, countWaves, waveOf, waveStartedMessage, wavesToRelease, type RestartGroupSpec, type WaveItem } from './restart-waves.js'

const T0 = 1_000_000
const item = (instanceId: string, group: string | null, wave: number, status: ItemStatus = 'waiting'): WaveItem => ({ instanceId, group, wave, status })
const db: RestartGroupSpec = { name: 'db', after: [], timeoutS: 600 }
const app: RestartGroupSpec = { name: 'app', after: ['db'], timeoutS: 60 }
const web: RestartGroupSpec = { name: 'web', after: ['app'], timeoutS: 60 }

describe('restart waves', () => {
  it('given no restart metadata, when a round starts, then every instance starts at once in the selection order', () => {
    const items = [item('a', null, 0), item('b', null, 0)]
    expect(wavesToRelease({ items, groups: [], lastStartAt: T0, now: T0 })).toEqual({
      release: true,
      upTo: 0,
      opened: [{ wave: 0, groups: [null], instances: 2, timedOut: [] }],
    })
    const order = [
      { wave: 0, priority: 3, position: 1 },
      { wave: 0, priority: 3, position: 0 },
    ].sort(byWorkOrder)
    expect(order.map((o) => o.position)).toEqual([0, 1])
    expect(countWaves(items)).toBe(1)
  })

  it('given priorities and waves, then work goes out by wave, then priority, then position', () => {
    const order = [
      { id: 'app-p1', wave: 1, priority: 1, position: 0 },
      { id: 'db-p5', wave: 0, priority: 5, position: 1 },
      { id: 'db-p2', wave: 0, priority: 2, position: 2 },
      { id: 'loose-p2', wave: 0, priority: 2, position: 3 },
    ].sort(byWorkOrder)
    expect(order.map((o) => o.id)).toEqual(['db-p2', 'loose-p2', 'db-p5', 'app-p1'])
  })

  it('given db then app, when the round starts, then only the db wave (and ungrouped instances) start', () => {
    const items = [item('d1', 'db', 0), item('u', null, 0), item('a1', 'app', 1)]
    const then = wavesToRelease({ items, groups: [db, app], lastStartAt: T0, now: T0 })
    expect(then).toEqual({ release: true, upTo: 0, opened: [{ wave: 0, groups: [null, 'db'], instances: 2, timedOut: [] }] })
  })

  it('given the db wave running, when an item ends but db is not all final, then app waits until its timeout', () => {
    const items = [item('d1', 'db', 0, 'succeeded'), item('d2', 'db', 0, 'running'), item('a1', 'app', 1)]
    expect(wavesToRelease({ items, groups: [db, app], lastStartAt: T0, now: T0 + 5000 })).toEqual({ release: false, recheckAt: T0 + 60_000 })
  })

  it('given every db instance final (one failed), then the app wave starts', () => {
    const items = [item('d1', 'db', 0, 'succeeded'), item('d2', 'db', 0, 'failed'), item('a1', 'app', 1), item('a2', 'app', 1)]
    expect(wavesToRelease({ items, groups: [db, app], lastStartAt: T0, now: T0 + 5000 })).toEqual({
      release: true,
      upTo: 1,
      opened: [{ wave: 1, groups: ['app'], instances: 2, timedOut: [] }],
    })
  })

  it('given db still running, when app’s timeout since the db wave started passed, then app starts anyway and says why', () => {
    const items = [item('d1', 'db', 0, 'running'), item('a1', 'app', 1)]
    const then = wavesToRelease({ items, groups: [db, app], lastStartAt: T0, now: T0 + 60_000 })
    expect(then).toEqual({ release: true, upTo: 1, opened: [{ wave: 1, groups: ['app'], instances: 1, timedOut: [{ group: 'app', waitingFor: ['db'] }] }] })
    if (then.release) expect(waveStartedMessage(then.opened[0]!, 2)).toBe('wave 2 of 2 (group app) started: 1 instance(s); group app stopped waiting for db (timeout)')
  })

  it('given three waves, when db ends, then app starts but web waits for app (its timeout counted from app’s start)', () => {
    const items = [item('d1', 'db', 0, 'succeeded'), item('a1', 'app', 1), item('w1', 'web', 2)]
    const now = T0 + 1_000_000
    const then = wavesToRelease({ items, groups: [db, app, web], lastStartAt: T0, now })
    expect(then).toMatchObject({ release: true, upTo: 1 })
    const later = wavesToRelease({
      items: [item('d1', 'db', 0, 'succeeded'), item('a1', 'app', 1, 'pending'), item('w1', 'web', 2)],
      groups: [db, app, web],
      lastStartAt: now,
      now,
    })
    expect(later).toEqual({ release: false, recheckAt: now + 60_000 })
  })

  it('given a retry round in which db already moved, when it starts, then db’s failed instances and the app wave go at once', () => {
    const items = [item('d1', 'db', 0, 'succeeded'), item('a1', 'app', 1)]
    expect(wavesToRelease({ items, groups: [db, app], lastStartAt: T0, now: T0 })).toMatchObject({ release: true, upTo: 1 })
    const both = [item('d1', 'db', 0), item('a1', 'app', 1)]
    expect(wavesToRelease({ items: both, groups: [db, app], lastStartAt: T0, now: T0 })).toMatchObject({ release: true, upTo: 0 })
  })

  it('given groups that wait for each other (a cycle that slipped through), then no wave ever waits for itself or a higher one', () => {
    const a: RestartGroupSpec = { name: 'a', after: ['b'], timeoutS: 600 }
    const b: RestartGroupSpec = { name: 'b', after: ['a'], timeoutS: 600 }
    // Both at the same level: neither waits for the other.
    const same = wavesToRelease({ items: [item('x', 'a', 0), item('y', 'b', 0)], groups: [a, b], lastStartAt: T0, now: T0 })
    expect(same).toMatchObject({ release: true, upTo: 0 })
    // At different levels, the lower one never waits for the higher one.
    const levels = wavesToRelease({ items: [item('x', 'a', 0), item('y', 'b', 1)], groups: [a, b], lastStartAt: T0, now: T0 })
    expect(levels).toMatchObject({ release: true, upTo: 0 })
    const self: RestartGroupSpec = { name: 's', after: ['s'], timeoutS: 600 }
    expect(wavesToRelease({ items: [item('x', 's', 0)], groups: [self], lastStartAt: T0, now: T0 })).toMatchObject({ release: true, upTo: 0 })
  })

  it('given a group waiting for one with no instance here, then it does not wait', () => {
    const items = [item('a1', 'app', 1)]
    expect(wavesToRelease({ items, groups: [app], lastStartAt: T0, now: T0 })).toMatchObject({ release: true, upTo: 1 })
  })

  it('given nothing waiting, then nothing is released and nothing is to be looked at again', () => {
    expect(wavesToRelease({ items: [item('d', 'db', 0, 'running')], groups: [db], lastStartAt: T0, now: T0 })).toEqual({ release: false, recheckAt: null })
  })

  it('given a timeout of 0, then the group never holds its wave', () => {
    const eager: RestartGroupSpec = { ...app, timeoutS: 0 }
    expect(wavesToRelease({ items: [item('d', 'db', 0, 'running'), item('a', 'app', 1)], groups: [db, eager], lastStartAt: T0, now: T0 })).toMatchObject({ release: true, upTo: 1 })
  })

  it('a wave’s level comes from its group, 0 without one', () => {
    const levels = new Map([
      ['db', 0],
      ['app', 1],
    ])
    expect([waveOf(null, levels), waveOf('db', levels), waveOf('app', levels), waveOf('other', levels)]).toEqual([0, 0, 1, 0])
  })

  it('names the wave and its groups in progress', () => {
    expect(waveStartedMessage({ wave: 0, groups: [null, 'db'], instances: 3, timedOut: [] }, 3)).toBe('wave 1 of 3 (group db and ungrouped instances) started: 3 instance(s)')
    expect(waveStartedMessage({ wave: 1, groups: ['app', 'cache'], instances: 4, timedOut: [] }, 3)).toBe('wave 2 of 3 (groups app, cache) started: 4 instance(s)')
    expect(waveStartedMessage({ wave: 0, groups: [null], instances: 2, timedOut: [] }, 2)).toBe('wave 1 of 2 started: 2 instance(s)')
  })
})
