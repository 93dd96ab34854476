import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEvacuationRig, type EvacuationRig } from '../bench/evacuation-rig.js'
import { eventually } from '../support/processes.js'

/**
 * kill -9 of an evacuator in the middle of a host recovery, while another runs: every
 * instance ends ACTIVE on another host, evacuated exactly once, and the recovery ends once.
 * Runs the built services: `npx tsc -b services/evacuator packages/cloud-sim` first.
 */
/**
 * `instances` on compute1, two evacuators, compute1 fails, and the first evacuator is killed
 * while it is evacuating (Nova has accepted some of its calls); the recovery must finish
 * within `finishWithinMs`, every instance moved.
 */
const killOneOfTwoMidRecovery = async (rig: EvacuationRig, instances: number, finishWithinMs: number) => {
  const ids: string[] = []
  for (let n = 0; n < instances; n += 1) ids.push((await rig.sim<{ id: string }>('POST', '/sim/servers', { host: 'compute1', name: `vm-${n}` })).id)
  const victim = await rig.startEvacuator()
  await rig.startEvacuator()
  const evt = await rig.failHost('compute1')
  await victim.waitForLine(/"msg":"evacuation requested"/, 30_000)
  await new Promise((r) => setTimeout(r, 150))
  victim.child.kill('SIGKILL')
  const end = await rig.finished(evt.payload.notificationId, finishWithinMs)
  expect(end.payload.status).toBe('finished')
  expect(end.payload.moved.map((m) => m.instance.id).sort()).toEqual([...ids].sort())
  return { ids, evt, victim }
}

describe('evacuator killed mid-recovery', () => {
  let rig: EvacuationRig

  beforeAll(async () => {
    rig = await startEvacuationRig({
      simEnv: { SIM_EVACUATION_DELAY_MS: '300' },
      evacuatorEnv: { HOST_FAILURE_RECOVERY_THREADS: '4', CLAIM_LEASE_MS: '3000', SWEEP_INTERVAL_MS: '1000', WAIT_PERIOD_AFTER_EVACUATION: '30' },
    })
  })
  afterAll(async () => {
    await rig?.stop()
  })

  it('finishes the recovery with one evacuate per instance', async () => {
    const { ids, evt, victim } = await killOneOfTwoMidRecovery(rig, 30, 90_000)

    const servers = await eventually('every instance settled', async () => {
      const { servers } = await rig.sim<{ servers: { id: string; host: string; status: string; taskState: string | null; locked: boolean }[] }>('GET', '/sim/servers')
      const mine = servers.filter((s) => ids.includes(s.id))
      return mine.every((s) => s.taskState === null) ? mine : undefined
    })
    for (const s of servers) expect(s).toMatchObject({ status: 'ACTIVE', locked: false, taskState: null })
    expect(servers.every((s) => s.host !== 'compute1')).toBe(true)

    const { evacuations } = await rig.sim<{ evacuations: { serverId: string }[] }>('GET', '/sim/records')
    for (const id of ids) expect(evacuations.filter((e) => e.serverId === id)).toHaveLength(1)
    // Late duplicates would show up within a couple of sweeps.
    await new Promise((r) => setTimeout(r, 2500))
    expect(rig.seen.filter((e) => e.type === 'recovery.finished.v1' && e.payload.notificationId === evt.payload.notificationId)).toHaveLength(1)
    expect(victim.child.signalCode).toBe('SIGKILL')
  })
})

/**
 * The same crash with the default claim lease (30 s): the survivor resumes the dead worker's
 * items once it stops beating (WORKER_DEAD_AFTER_MS, 2 s), not when their leases run out.
 */
describe('evacuator killed mid-recovery, default claim lease', () => {
  let rig: EvacuationRig

  beforeAll(async () => {
    rig = await startEvacuationRig({
      simEnv: { SIM_EVACUATION_DELAY_MS: '300' },
      evacuatorEnv: { HOST_FAILURE_RECOVERY_THREADS: '4', WAIT_PERIOD_AFTER_EVACUATION: '30' },
    })
  })
  afterAll(async () => {
    await rig?.stop()
  })

  it("resumes the dead worker's items well before their 30 s leases end", async () => {
    // Under the lease alone the victim's items would wait 30 s (then a sweep) to be resumed.
    const { ids } = await killOneOfTwoMidRecovery(rig, 12, 20_000)
    const { evacuations } = await rig.sim<{ evacuations: { serverId: string }[] }>('GET', '/sim/records')
    for (const id of ids) expect(evacuations.filter((e) => e.serverId === id)).toHaveLength(1)
  })
})
