import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../support/processes.js'
import { printFigures, startRig, type Rig } from './rig.js'

/*
 * Scenario 2: the detector's namespace (NATS and the detector) cut off from every agent.
 * The detector still has NATS, so it sees every host go silent at once. Two segments, one
 * per evidence policy: `silence+peers` (no live peer is left to confirm anything: every host
 * is `unconfirmed`, an alert) and `silence` (silence alone would fence: the storm guard
 * trips, the segment is paused in the api). Nothing is fenced either way.
 */

const run = randomBytes(3).toString('hex')
const peers = `peers-${run}`
const silence = `silence-${run}`
let rig: Rig

describe('partition: the detector cut off from every agent', () => {
  beforeAll(async () => {
    rig = await startRig({
      bridges: ['a', 'a', 'a', 'b', 'b', 'b'],
      segments: [
        { name: peers, hosts: ['compute1', 'compute2', 'compute3'] },
        { name: silence, hosts: ['compute4', 'compute5', 'compute6'] },
      ],
      policy: {
        '*': { evidence: { kind: 'silence+peers', peers: 2 }, isolationResponse: 'alert', useStorageHeartbeat: false },
        [silence]: { evidence: { kind: 'silence' } },
      },
    })
  }, 180_000)

  afterAll(async () => {
    await rig?.stop()
  }, 60_000)

  it('fences nothing: unconfirmed alerts where peers must confirm, a storm pause where silence is enough', async () => {
    await rig.topo.cut('ctl')

    await rig.detector.waitForLine(/heartbeat verdict: storm /, 20_000)
    await eventually('the silence segment paused in the api', async () => ((await rig.paused(silence)) ? true : undefined), 15_000, 200)
    await eventually(
      'every host of the peers segment unconfirmed',
      () => (['compute1', 'compute2', 'compute3'].every((h) => rig.verdicts('unconfirmed').some((v) => v.verdict.host === h)) ? true : undefined),
      20_000,
    )
    await eventually(
      'every host of the silence segment held',
      () => (['compute4', 'compute5', 'compute6'].every((h) => rig.verdicts('failed').some((v) => v.verdict.host === h && v.verdict.held)) ? true : undefined),
      20_000,
    )
    await eventually(
      'alerts in the api for both segments',
      async () => ((await rig.alerts(peers)).length > 0 && (await rig.alerts(silence)).some((a) => a.kind === 'storm') ? true : undefined),
      15_000,
      200,
    )

    await new Promise((r) => setTimeout(r, 5000))
    const fenced = await rig.fencedHosts()
    const reported = await rig.hostFailures()
    expect(reported).toEqual([])
    expect(fenced).toEqual([])
    expect(rig.verdicts().filter((v) => v.verdict.action === 'fence')).toEqual([])
    expect(await rig.paused(peers)).toBe(false)
    printFigures({
      scenario: '2 detector cut off',
      hostsFenced: fenced.length,
      falseFailures: reported.length,
      note: '3 unconfirmed (silence+peers), 3 held by the storm guard (silence)',
    })

    await rig.topo.heal('ctl')
    await eventually('every host heard again', () => (rig.hosts.every((h) => rig.verdicts('recovered').some((v) => v.verdict.host === h)) ? true : undefined), 30_000, 200)
    expect(await rig.hostFailures()).toEqual([])
    expect(await rig.fencedHosts()).toEqual([])
  }, 120_000)
})
