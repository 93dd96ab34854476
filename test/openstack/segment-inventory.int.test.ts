import { createOpenStackClient, NovaError, readSegmentInventory, type OpenStackClient } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { conformanceTargets, type Target } from '../conformance/targets.js'

/**
 * What a recovery planner reads (readSegmentInventory: Placement inventories and usages,
 * flavors embedded in servers, server groups, aggregates), against cloud-sim and, when the box
 * is up (`REAL_NOVA=1 OSBOX_ENV=/tmp/osbox/lazarus.env`), against real Nova 26 and Placement.
 * One server (m1.fake: 1 vCPU, 512 MB, 1 GB) is booted on the first host under a run-unique
 * name, in an anti-affinity group the suite creates; both are deleted afterwards.
 */

const { targets, skipped } = conformanceTargets()
const RUN = `seginv-${process.pid}-${Date.now().toString(36)}-`
/** The box's and the sim's default flavor. */
const M1_FAKE = { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 }

if (skipped) {
  describe('segment inventory: real Nova', () => {
    it.skip(`skipped: ${skipped}`, () => {})
  })
}

describe.each(targets.map((t) => [t.name, t] as const))('segment inventory: %s', (_name, target: Target) => {
  const [h1] = target.hosts
  let os: OpenStackClient
  const booted: string[] = []
  let groupId: string | undefined

  beforeAll(async () => {
    await target.setup()
    os = await createOpenStackClient(target.options())
    const res = await os.computeRequest('POST', '/os-server-groups', { microversion: '2.64', body: { server_group: { name: `${RUN}grp`, policy: 'anti-affinity' } } })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    groupId = (res.body as { server_group: { id: string } }).server_group.id
    booted.push(...(await target.boot(os, h1, [`${RUN}a`], { group: groupId })))
  }, 300_000)

  afterAll(async () => {
    if (os) {
      if (booted.length > 0) await target.remove(os, booted)
      if (groupId) await os.computeRequest('DELETE', `/os-server-groups/${groupId}`).catch(() => undefined)
    }
    await target.teardown()
  }, 180_000)

  it('speaks Placement from the catalog at a microversion the endpoint supports', async () => {
    expect(await os.placement.microversion()).toBe('1.39')
    const [provider] = await os.placement.providersNamed(h1)
    expect(provider?.name).toBe(h1)
  })

  it("reads the booted server's flavor, and finds it among its host's usages", async () => {
    const inv = await readSegmentInventory(os, target.hosts)
    expect(inv.hosts.map((h) => h.name)).toEqual([...target.hosts])
    for (const h of inv.hosts) {
      expect(h.providerUuid, h.notes.join('; ')).toMatch(/^[0-9a-f-]{36}$/)
      expect(h.notes).toEqual([])
      for (const rc of ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const) {
        const i = h.inventories[rc]
        if (!i) throw new Error(`${h.name} has no ${rc} inventory`)
        expect(i.total, `${h.name} ${rc}`).toBeGreaterThan(0)
        expect(i.reserved).toBeGreaterThanOrEqual(0)
        expect(i.reserved).toBeLessThan(i.total)
        expect(i.maxUnit).toBeGreaterThan(0)
        expect(i.maxUnit).toBeLessThanOrEqual(i.total)
        // Nova's initial ratios are 16 / 1.5 / 1; an operator's stay well within this.
        expect(i.allocationRatio).toBeGreaterThan(0)
        expect(i.allocationRatio).toBeLessThanOrEqual(64)
      }
    }
    const [id] = booted
    const mine = inv.instances.find((i) => i.id === id)
    if (!mine) throw new Error(`server ${id} not in the inventory of ${target.hosts.join(', ')}`)
    expect(mine).toMatchObject({ name: `${RUN}a`, host: h1, status: 'ACTIVE', flavorName: 'm1.fake', resources: M1_FAKE, serverGroups: [groupId], notes: [] })
    expect(inv.serverGroups.find((g) => g.id === groupId)).toEqual({ id: groupId, name: `${RUN}grp`, policy: 'anti-affinity', members: [id], rules: {} })

    // Placement counts it on its host: the host's usage is at least what the servers Nova lists there allocate.
    const host = inv.hosts.find((h) => h.name === h1)!
    const listed = inv.instances.filter((i) => i.host === h1)
    for (const rc of ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const) {
      const sum = listed.reduce((n, i) => n + (i.resources[rc] ?? 0), 0)
      expect(host.usages[rc] ?? 0, `${h1} ${rc}`).toBeGreaterThanOrEqual(sum)
      expect(host.usages[rc] ?? 0).toBeGreaterThanOrEqual(M1_FAKE[rc])
    }
    expect(host.serviceUp).toBe(true)
  })

  it('lists the server groups of every project with their policy (2.64+) and members', async () => {
    const groups = await os.nova.listServerGroups()
    const [id] = booted
    expect(groups.find((g) => g.id === groupId)).toMatchObject({ name: `${RUN}grp`, policy: 'anti-affinity', members: [id] })
    const old = await createOpenStackClient({ ...target.options(), microversion: '2.46' })
    expect((await old.nova.listServerGroups()).find((g) => g.id === groupId)).toMatchObject({ policy: 'anti-affinity', rules: {}, members: [id] })
    const server = await os.nova.getServer(id!)
    expect(server.flavor).toMatchObject({ name: 'm1.fake', vcpus: 1, ramMb: 512, diskGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} })
    expect(server.serverGroups).toEqual([groupId])
    expect((await old.nova.getServer(id!)).flavor).toBeUndefined()
    expect((await old.nova.getServer(id!)).serverGroups).toBeUndefined()
  })

  it('refuses an unknown resource provider with Placement’s own words', async () => {
    const err = await os.placement.usages('00000000-0000-4000-8000-00000000dead').then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    expect(err?.name).toBe('PlacementError')
    expect(err?.message).toMatch(/404: .*No resource provider with uuid 00000000-0000-4000-8000-00000000dead found/)
    expect(err).not.toBeInstanceOf(NovaError)
  })
})
