import { describe, expect, it } from 'vitest'
import { decideRestart } from './restart-limit.js'

const HOUR = 3_600_000
const now = new Date('2026-12-04T12:00:00Z')
const ago = (ms: number) => new Date(now.getTime() - ms)
const rule = { limit: 3, windowMs: HOUR }
const instance = 'web-1 (6f1c)'

describe('decideRestart: the restart-loop limit of an instance', () => {
  it('recovers the first failures of an instance, counting the earlier ones', () => {
    expect(decideRestart({ now, admitted: [], rule, instance })).toEqual({ recover: true, counted: 0 })
    expect(decideRestart({ now, admitted: [ago(50 * 60_000), ago(10 * 60_000)], rule, instance })).toEqual({ recover: true, counted: 2 })
  })

  it('given 3 recoveries within the hour, when it fails a 4th time, then it is left stopped with a message that says why', () => {
    const v = decideRestart({ now, admitted: [ago(59 * 60_000), ago(30 * 60_000), ago(1000)], rule, instance })
    expect(v).toEqual({
      recover: false,
      counted: 3,
      message:
        'instance web-1 (6f1c) failed again after 3 recoveries within 1 h (INSTANCE_RESTART_LIMIT 3 per INSTANCE_RESTART_WINDOW_MS 3600000): not restarted, left stopped for an operator',
    })
  })

  it('slides the window: a recovery older than the window no longer counts', () => {
    expect(decideRestart({ now, admitted: [ago(HOUR), ago(30 * 60_000), ago(1000)], rule, instance })).toEqual({ recover: true, counted: 2 })
    expect(decideRestart({ now, admitted: [ago(HOUR - 1), ago(30 * 60_000), ago(1000)], rule, instance })).toMatchObject({ recover: false, counted: 3 })
  })

  it('does not count a recovery recorded after now (another replica, a moment later)', () => {
    expect(decideRestart({ now, admitted: [ago(-5000), ago(2000), ago(1000)], rule, instance })).toEqual({ recover: true, counted: 2 })
  })

  it('with limit 0, always recovers', () => {
    const many = Array.from({ length: 50 }, (_, i) => ago(i * 1000))
    expect(decideRestart({ now, admitted: many, rule: { limit: 0, windowMs: HOUR }, instance })).toEqual({ recover: true, counted: 50 })
  })

  it('names the window in the unit it was given in', () => {
    const msg = (windowMs: number) => {
      const v = decideRestart({ now, admitted: [ago(1)], rule: { limit: 1, windowMs }, instance })
      return v.recover ? '' : v.message
    }
    expect(msg(10 * 60_000)).toContain('within 10 min')
    expect(msg(90_000)).toContain('within 90 s')
    expect(msg(1500)).toContain('within 1500 ms')
  })
})
