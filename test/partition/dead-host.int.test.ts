import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../support/processes.js'
import { printFigures, startRig, type Rig } from './rig.js'

/*
 * Scenario 4: one host really dead during a partition elsewhere. Segment `near`
 * (compute1–3) shares bridge a with the control plane; segment `far` (compute4–6) sits on
 * bridge b, cut off by the partition. Then compute1 dies: its agent killed, its link down,
 * its simulated machine crashed. compute2 and compute3 cannot reach it either (the
 * `silence+peers` evidence), so it alone is declared failed, fenced and recovered through the
 * real api → fencer → evacuator path; the cut-off hosts stay unconfirmed, never fenced.
 */

const run = randomBytes(3).toString('hex')
const near = `near-${run}`
const far = `far-${run}`
let rig: Rig

interface SimServer {
  id: string
  host: string
  status: string
}

describe('partition: a dead host during a partition elsewhere', () => {
  beforeAll(async () => {
    rig = await startRig({
      bridges: ['a', 'a', 'a', 'b', 'b', 'b'],
      segments: [
        { name: near, hosts: ['compute1', 'compute2', 'compute3'] },
        { name: far, hosts: ['compute4', 'compute5', 'compute6'] },
      ],
      policy: { '*': { evidence: { kind: 'silence+peers', peers: 2 }, isolationResponse: 'alert', useStorageHeartbeat: false } },
    })
  }, 180_000)

  afterAll(async () => {
    await rig?.stop()
  }, 60_000)

  it('fences and recovers the dead host alone', async () => {
    await rig.topo.cut('ab')
    await eventually(
      'the cut-off hosts unconfirmed',
      () => (['compute4', 'compute5', 'compute6'].every((h) => rig.verdicts('unconfirmed').some((v) => v.verdict.host === h)) ? true : undefined),
      20_000,
    )

    const victim = 'compute1'
    const instances = (await rig.c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(instances.length).toBeGreaterThan(0)
    const killedAt = Date.now()
    rig.agents.get(victim)!.child.kill('SIGKILL')
    await rig.topo.cut({ host: victim })
    await rig.c.sim('POST', `/sim/hosts/${victim}/crash`)

    const [n] = await eventually(
      'the dead host reported to the api',
      async () => {
        const ns = (await rig.hostFailures()).filter((x) => x.host === victim)
        return ns.length > 0 ? ns : undefined
      },
      30_000,
      200,
    )
    const final = await rig.c.finalNotification(n!.notification_uuid, 60_000)
    const recoveredAfterMs = Date.now() - killedAt
    expect(final.status).toBe('finished')
    const after = (await rig.c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const i of instances) {
      const s = after.find((x) => x.id === i.id)
      expect(s?.host).not.toBe(victim)
      expect(s?.status).toBe('ACTIVE')
    }

    // Nothing else: give the pipeline time to do what it should not, the partition still in place.
    await new Promise((r) => setTimeout(r, 5000))
    const fenced = await rig.fencedHosts()
    const reported = await rig.hostFailures()
    expect(fenced).toEqual([victim])
    expect(reported.map((x) => x.host)).toEqual([victim])
    expect(
      rig
        .verdicts()
        .filter((v) => v.verdict.action === 'fence')
        .map((v) => v.verdict.host),
    ).toEqual([victim])
    printFigures({
      scenario: '4 dead host, partition elsewhere',
      hostsFenced: fenced.length,
      falseFailures: reported.filter((x) => x.host !== victim).length,
      failureToRecoveryMs: recoveredAfterMs,
      note: 'compute4–6 cut off: unconfirmed, not fenced',
    })
  }, 120_000)
})
