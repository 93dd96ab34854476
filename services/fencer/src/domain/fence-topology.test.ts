import { describe, expect, it } from 'vitest'
import type { FenceDevice, FenceLevel } from './control-attributes.js'
import { describeAttempt, fenceFailedReason, nextFenceAction, type AttemptResult, type FenceAttempt } from './fence-topology.js'

const device = (level: number, name: string, attempts = 1): FenceDevice => ({
  level,
  name,
  prefix: `level${level}.${name}.`,
  attempts,
  attemptTimeoutMs: undefined,
  settings: { driver: 'ipmi', address: name, username: undefined, password: undefined, verifyTls: true, options: {} },
})

// Given: a BMC tried twice, then two PDUs that must both switch off, then a spare PDU.
const bmc = device(1, 'bmc', 2)
const pduA = device(2, 'pdu-a')
const pduB = device(2, 'pdu-b')
const spare = device(3, 'spare')
const levels: FenceLevel[] = [
  { level: 1, devices: [bmc] },
  { level: 2, devices: [pduA, pduB] },
  { level: 3, devices: [spare] },
]

const tried = (d: FenceDevice, attempt: number, result: AttemptResult): FenceAttempt => ({
  level: d.level,
  device: d.name,
  attempt,
  result,
  ms: 10,
  message: `${d.name} ${result}`,
})

describe('nextFenceAction', () => {
  it('given nothing tried, then the first device of the first level, first try', () => {
    expect(nextFenceAction(levels, [])).toEqual({ kind: 'try', device: bmc, attempt: 1, why: 'first' })
  })

  it('given a device with tries left that timed out, then it is tried again', () => {
    expect(nextFenceAction(levels, [tried(bmc, 1, 'timed_out')])).toEqual({ kind: 'try', device: bmc, attempt: 2, why: 'retry' })
  })

  it('given the only device of a level confirmed off, then the host is fenced at that level', () => {
    expect(nextFenceAction(levels, [tried(bmc, 1, 'refused'), tried(bmc, 2, 'ok')])).toEqual({ kind: 'fenced', level: levels[0] })
  })

  it('given a device that used up its tries, then the next level is tried from its first device', () => {
    expect(nextFenceAction(levels, [tried(bmc, 1, 'timed_out'), tried(bmc, 2, 'refused')])).toEqual({ kind: 'try', device: pduA, attempt: 1, why: 'next_level' })
  })

  it('given the first device of a level confirmed off, then the next device of the same level', () => {
    const so = [tried(bmc, 1, 'timed_out'), tried(bmc, 2, 'timed_out'), tried(pduA, 1, 'ok')]
    expect(nextFenceAction(levels, so)).toEqual({ kind: 'try', device: pduB, attempt: 1, why: 'next_device' })
  })

  it('given every device of a level confirmed off, then fenced at that level', () => {
    const so = [tried(bmc, 1, 'timed_out'), tried(bmc, 2, 'timed_out'), tried(pduA, 1, 'ok'), tried(pduB, 1, 'ok')]
    expect(nextFenceAction(levels, so)).toEqual({ kind: 'fenced', level: levels[1] })
  })

  it('given one device of a level failed while the other confirmed off, then the level does not count and the next level is tried', () => {
    const so = [tried(bmc, 1, 'refused'), tried(bmc, 2, 'refused'), tried(pduA, 1, 'ok'), tried(pduB, 1, 'refused')]
    expect(nextFenceAction(levels, so)).toEqual({ kind: 'try', device: spare, attempt: 1, why: 'next_level' })
  })

  it('given every level failed, then give up naming them', () => {
    const so = [tried(bmc, 1, 'refused'), tried(bmc, 2, 'refused'), tried(pduA, 1, 'timed_out'), tried(spare, 1, 'refused')]
    const next = nextFenceAction(levels, so)
    expect(next).toEqual({ kind: 'give_up', reason: 'no fencing level confirmed the host off (level 1 (bmc), level 2 (pdu-a, pdu-b), level 3 (spare) failed)' })
  })

  it('given no level at all, then give up at once', () => {
    expect(nextFenceAction([], [])).toMatchObject({ kind: 'give_up' })
  })

  it('given attempts of a device that is not in the topology, then they change nothing', () => {
    expect(nextFenceAction(levels, [tried(device(1, 'gone'), 1, 'ok')])).toEqual({ kind: 'try', device: bmc, attempt: 1, why: 'first' })
  })
})

describe('what operators read', () => {
  it('describes an attempt with its level, device, try, outcome and duration', () => {
    expect(describeAttempt(tried(pduB, 1, 'timed_out'))).toBe('level 2 device pdu-b attempt 1: timed out after 10 ms: pdu-b timed_out')
    expect(describeAttempt(tried(pduA, 1, 'ok'))).toBe('level 2 device pdu-a attempt 1: confirmed off after 10 ms')
  })

  it("gives a single attempt's own message as the reason (one device, one try: as before topologies), else every attempt", () => {
    expect(fenceFailedReason('c1', 'no level', [tried(bmc, 1, 'refused')])).toBe('bmc refused')
    expect(fenceFailedReason('c1', 'no level', [tried(bmc, 1, 'refused'), tried(bmc, 2, 'timed_out')])).toBe(
      'host c1: no level; attempts: level 1 device bmc attempt 1: refused after 10 ms: bmc refused; level 1 device bmc attempt 2: timed out after 10 ms: bmc timed_out',
    )
  })
})
