import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../support/processes.js'
import { printFigures, startRig, type Rig } from './rig.js'

/*
 * Scenario 1: half a segment cut off from the control plane, still seeing each other.
 * compute1 and compute2 sit on bridge a with NATS and the detector, compute3 and compute4
 * on bridge b; cutting the veth pair joining the bridges leaves compute3/4 heartbeating into
 * nothing. compute1/2's peer probes report them unreachable (the `silence+peers` evidence is
 * there), so they are declared failed together, and the storm guard holds them: the segment
 * is paused in the api, a storm alert is raised, nothing is fenced.
 */

const run = randomBytes(3).toString('hex')
const segment = `split-${run}`
let rig: Rig

describe('partition: half a segment cut off from the detector', () => {
  beforeAll(async () => {
    rig = await startRig({
      bridges: ['a', 'a', 'b', 'b'],
      segments: [{ name: segment, hosts: ['compute1', 'compute2', 'compute3', 'compute4'] }],
      // Two live peers must confirm a silence; an isolated host is alerted on, not fenced;
      // the storm guard trips when more than a third of the segment fails together.
      policy: { '*': { evidence: { kind: 'silence+peers', peers: 2 }, isolationResponse: 'alert', useStorageHeartbeat: false, maxFailedFraction: 0.34 } },
    })
  }, 180_000)

  afterAll(async () => {
    await rig?.stop()
  }, 60_000)

  it('fences none of the cut-off hosts, pauses the segment and raises a storm alert', async () => {
    await rig.topo.cut('ab')

    await rig.detector.waitForLine(/heartbeat verdict: storm /, 20_000)
    await eventually('the segment paused in the api', async () => ((await rig.paused(segment)) ? true : undefined), 15_000, 200)
    await eventually('both cut-off hosts declared', () => (rig.verdicts('failed').length >= 2 ? true : undefined), 15_000)
    const failed = rig.verdicts('failed')
    expect(failed.map((v) => v.verdict.host).sort()).toEqual(['compute3', 'compute4'])
    expect(failed.every((v) => v.verdict.action === 'alert' && v.verdict.held === true && v.verdict.heldBy === 'storm')).toBe(true)
    await eventually('the storm alert in the api', async () => ((await rig.alerts(segment)).some((a) => a.kind === 'storm') ? true : undefined), 15_000, 200)

    // Give the pipeline time to do what it should not, the partition still in place.
    await new Promise((r) => setTimeout(r, 5000))
    const fenced = await rig.fencedHosts()
    const reported = await rig.hostFailures()
    expect(reported).toEqual([])
    expect(fenced).toEqual([])
    expect(rig.verdicts().filter((v) => v.verdict.action === 'fence')).toEqual([])

    // Healed: the hosts heartbeat again, and still nothing is fenced.
    await rig.topo.heal('ab')
    await eventually(
      'both hosts heard again',
      () => (['compute3', 'compute4'].every((h) => rig.verdicts('recovered').some((v) => v.verdict.host === h)) ? true : undefined),
      30_000,
      200,
    )
    expect(await rig.hostFailures()).toEqual([])
    expect(await rig.fencedHosts()).toEqual([])
    printFigures({
      scenario: '1 half the segment cut off',
      hostsFenced: fenced.length,
      falseFailures: reported.length,
      note: 'storm guard held compute3, compute4; segment paused',
    })
  }, 120_000)
})
