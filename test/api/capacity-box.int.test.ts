import { createOpenStackClient, readSegmentInventory } from '@lazarus/openstack'
import { failoverCapacity, planFailure, planRequestFromInventory } from '@lazarus/planner'
import { SegmentCapacityAnswer, SegmentPlanAnswer } from '@lazarus/api-contract'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from '../../services/api/src/testing/harness.js'
import { loadBox } from '../real-nova/box.js'

/**
 * Capacity and a what-if plan against the openstack-box's real Nova and Placement, the api
 * configured as an operator configures it (OS_* settings, no client handed in). Read only:
 * no server is created or changed; the segment lives in the harness's own database.
 */
const boxed = loadBox()

describe.skipIf(!boxed.box)("segment capacity and plans against the openstack-box's real Nova and Placement", () => {
  const box = boxed.box!
  let h: Harness
  let hosts: string[]
  beforeAll(async () => {
    const os = await createOpenStackClient(box.client)
    hosts = [...new Set((await os.nova.listComputeServices()).filter((s) => s.binary === 'nova-compute').map((s) => s.host))].sort()
    h = await startHarness({
      engine: 'pglite',
      config: {
        capacityRefreshS: 0,
        osAuthUrl: box.client.authUrl,
        osUsername: box.client.username,
        osPassword: box.client.password,
        osProjectName: box.client.projectName,
        osUserDomainName: box.client.userDomainName,
        osProjectDomainName: box.client.projectDomainName,
        ...(box.client.regionName ? { osRegionName: box.client.regionName } : {}),
        ...(box.client.interface ? { osInterface: box.client.interface } : {}),
      },
    })
  }, 60_000)
  afterAll(async () => {
    await h?.close()
  })

  it("answers the planner's figures for the box's compute hosts, and plans one host's failure as planFailure does", async () => {
    expect(hosts.length).toBeGreaterThan(0)
    const seg = (await h.request('POST', '/v1/segments', { segment: { name: 'box', recovery_method: 'auto', service_type: 'COMPUTE' } })).body.segment
    for (const name of hosts) {
      const r = await h.request('POST', `/v1/segments/${seg.uuid}/hosts`, { host: { name, type: 'COMPUTE', control_attributes: null } })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    }
    const got = await h.request('GET', `/v1/segments/${seg.uuid}/capacity`)
    expect(got.status, JSON.stringify(got.body)).toBe(200)
    const cap = SegmentCapacityAnswer.parse(got.body).capacity
    expect(cap.hosts).toBe(hosts.length)

    const inv = await readSegmentInventory(await createOpenStackClient(box.client), hosts)
    const common = { segmentHosts: hosts, strategy: 'spread' as const, defaultGroupTimeoutS: 600, evacuationS: 0, concurrency: 1 }
    const now = planRequestFromInventory(inv, { ...common, failedHosts: [] })
    const all = planRequestFromInventory(inv, { ...common, failedHosts: hosts })
    // Servers of other tests may come and go between the two reads: compare when the box was quiet.
    if (all.instances.length === cap.instances) {
      const expected = failoverCapacity({ hosts: now.hosts, instances: all.instances, groups: all.groups, strategy: 'spread', maxK: 3 })
      expect(cap.host_failures_tolerated).toBe(expected.hostFailuresTolerated)
      expect(cap.free).toEqual(expected.free)
    }

    const victim = hosts[0] as string
    const plan = await h.request('POST', `/v1/segments/${seg.uuid}/plans`, { plan: { hosts: [victim] } })
    expect(plan.status, JSON.stringify(plan.body)).toBe(200)
    const p = SegmentPlanAnswer.parse(plan.body).plan
    expect(p.failed_hosts).toEqual([victim])
    for (const x of p.placements) {
      expect(x.from).toBe(victim)
      if (x.target !== null) expect(hosts.filter((n) => n !== victim)).toContain(x.target)
    }
    const direct = planFailure(planRequestFromInventory(inv, { ...common, failedHosts: [victim], evacuationS: 60, concurrency: 16 }))
    if (direct.placements.length === p.placements.length) expect(p.placements.map((x) => x.instance_id).sort()).toEqual(direct.placements.map((x) => x.instanceId).sort())
  }, 120_000)
})
