import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/**
 * Debian's python3-masakariclient (the `openstack segment …` / `openstack notification …`
 * commands) against Lazarus's api, authenticated by cloud-sim's Keystone: the api validates
 * each token with Keystone's GET /v3/auth/tokens.
 *
 * cloud-sim's catalog has no `instance-ha` service, so the client is pointed at the api
 * with the token-and-endpoint auth (`--os-auth-type admin_token --os-endpoint … --os-token …`),
 * the token being one cloud-sim's Keystone issued.
 */

const run = promisify(execFile)
const APT = ['install', '-y', '-q', 'python3-masakariclient', 'python3-openstackclient']

const clientInstalled = async (): Promise<boolean> => {
  try {
    await run('/usr/bin/python3', ['-c', 'import masakariclient.plugin, openstackclient'], { timeout: 30_000 })
    return existsSync('/usr/bin/openstack')
  } catch {
    return false
  }
}

/** Install the client from Debian if it is missing; false when that is not possible here. */
const ensureClient = async (): Promise<boolean> => {
  if (await clientInstalled()) return true
  try {
    await run('apt-get', APT, { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } catch (err) {
    process.stderr.write(`masakariclient test: \`apt-get ${APT.join(' ')}\` failed: ${(err as Error).message.split('\n')[0]}\n`)
  }
  return clientInstalled()
}

const available = await ensureClient()
if (!available) {
  process.stderr.write(`masakariclient test SKIPPED: python3-masakariclient and python3-openstackclient are not installed and could not be (apt-get ${APT.join(' ')})\n`)
}

describe.skipIf(!available)('python3-masakariclient against the api, with Keystone tokens from cloud-sim', () => {
  let sim: RunningProcess
  let api: RunningProcess
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let vhost: Awaited<ReturnType<typeof createTestVhost>>
  let apiUrl: string
  let token: string
  let home: string

  beforeAll(async () => {
    for (const f of ['services/api/dist/main.js', 'packages/cloud-sim/dist/main.js']) {
      if (!existsSync(join(repoRoot, f))) throw new Error(`${f} is missing: build first (npx tsc -b)`)
    }
    db = await createTestDatabase(`lazarus_masakariclient_${process.pid}`)
    vhost = await createTestVhost(`lazarus-masakariclient-${process.pid}`)
    sim = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', { SIM_PORT: '0' })
    const simInfo = JSON.parse(await sim.waitForLine(/"authUrl"/, 30_000)) as { authUrl: string; credentials: { username: string; password: string; projectName: string } }
    const c = simInfo.credentials
    api = startNode('api', 'services/api/dist/main.js', {
      API_PORT: '0',
      DATABASE_URL: db.url,
      AMQP_URL: vhost.url,
      KEYSTONE_URL: simInfo.authUrl,
      // Host names are looked up in cloud-sim's Nova, as Masakari looks them up in Nova.
      OS_AUTH_URL: simInfo.authUrl,
      COMPUTE_HOST_CHECK: 'nova',
      OS_USERNAME: c.username,
      OS_PASSWORD: c.password,
      OS_PROJECT_NAME: c.projectName,
      LOG_LEVEL: 'info',
    })
    const line = await api.waitForLine(/api listening/, 60_000)
    apiUrl = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`

    const res = await fetch(`${simInfo.authUrl}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: 'Default' }, password: c.password } } },
          scope: { project: { name: c.projectName, domain: { name: 'Default' } } },
        },
      }),
    })
    expect(res.status).toBe(201)
    token = res.headers.get('x-subject-token') as string
    home = mkdtempSync(join(tmpdir(), 'lazarus-osc-'))
  }, 120_000)

  afterAll(async () => {
    await api?.stop()
    await sim?.stop()
    await vhost?.drop()
    await db?.drop()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  /** Run `openstack <args> -f json` as an operator would, with nothing from this shell's OS_* settings. */
  const osc = async (args: string[], tok = token): Promise<{ code: number; out: string; err: string; json: any }> => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_')))
    try {
      const r = await run('/usr/bin/openstack', ['--os-auth-type', 'admin_token', '--os-endpoint', `${apiUrl}/v1`, '--os-token', tok, ...args], {
        env: { ...env, HOME: home },
        cwd: home,
        timeout: 90_000,
      })
      let json: unknown
      try {
        json = JSON.parse(r.stdout)
      } catch {
        json = undefined
      }
      return { code: 0, out: r.stdout, err: r.stderr, json }
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string }
      return { code: typeof e.code === 'number' ? e.code : 1, out: e.stdout ?? '', err: e.stderr ?? String(err), json: undefined }
    }
  }

  it('creates and lists segments, hosts and notifications, and shows a notification', async () => {
    const seg = await osc(['segment', 'create', 'osc-seg', 'auto', 'COMPUTE', '--description', 'made by masakariclient', '-f', 'json'])
    expect(seg.code, seg.err).toBe(0)
    expect(seg.json).toMatchObject({ name: 'osc-seg', recovery_method: 'auto', service_type: 'COMPUTE', description: 'made by masakariclient' })
    const segId = seg.json.uuid as string

    const segs = await osc(['segment', 'list', '--filters', 'service_type=COMPUTE', '-f', 'json'])
    expect(segs.code, segs.err).toBe(0)
    expect(segs.json).toEqual([expect.objectContaining({ uuid: segId, name: 'osc-seg', recovery_method: 'auto' })])

    const host = await osc(['segment', 'host', 'create', 'compute1', 'COMPUTE', 'SSH', segId, '-f', 'json'])
    expect(host.code, host.err).toBe(0)
    expect(host.json).toMatchObject({ name: 'compute1', type: 'COMPUTE', control_attributes: 'SSH', reserved: false, on_maintenance: false, failover_segment_id: segId })

    const hosts = await osc(['segment', 'host', 'list', segId, '-f', 'json'])
    expect(hosts.code, hosts.err).toBe(0)
    expect(hosts.json).toEqual([expect.objectContaining({ name: 'compute1', failover_segment_id: segId })])

    const payload = JSON.stringify({ event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' })
    const created = await osc(['notification', 'create', 'COMPUTE_HOST', 'compute1', new Date().toISOString().slice(0, 19), payload, '-f', 'json'])
    expect(created.code, created.err).toBe(0)
    expect(created.json).toMatchObject({ type: 'COMPUTE_HOST', status: 'new', source_host_uuid: host.json.uuid, payload: JSON.parse(payload) })
    const id = created.json.notification_uuid as string

    const list = await osc(['notification', 'list', '-f', 'json'])
    expect(list.code, list.err).toBe(0)
    expect(list.json).toEqual([expect.objectContaining({ notification_uuid: id, type: 'COMPUTE_HOST', source_host_uuid: host.json.uuid })])

    const shown = await osc(['notification', 'show', id, '-f', 'json'])
    expect(shown.code, shown.err).toBe(0)
    expect(shown.json).toMatchObject({ notification_uuid: id, type: 'COMPUTE_HOST', source_host_uuid: host.json.uuid })
    expect(['new', 'running', 'failed', 'finished', 'ignored', 'error']).toContain(shown.json.status)

    // The same notification again within the detection interval: Masakari's 409, reported by the client.
    const dup = await osc(['notification', 'create', 'COMPUTE_HOST', 'compute1', created.json.generated_time.slice(0, 19), payload, '-f', 'json'])
    expect(dup.code).not.toBe(0)
    expect(dup.err).toMatch(/409|duplicate/i)
  }, 300_000)

  it("runs every segment, segment host and notification command, paging with the client's own markers", async () => {
    // Five segments read two at a time: the client sends the integer id of the last one as marker.
    const made: { uuid: string; name: string }[] = []
    for (let i = 0; i < 5; i += 1) {
      const r = await osc(['segment', 'create', `osc-page-${i}`, 'auto', 'PAGED', '-f', 'json'])
      expect(r.code, r.err).toBe(0)
      made.push(r.json)
    }
    const paged = await osc(['segment', 'list', '--limit', '2', '--filters', 'service_type=PAGED', '-f', 'json'])
    expect(paged.code, paged.err).toBe(0)
    expect(paged.json.map((x: { uuid: string }) => x.uuid)).toEqual(made.map((x) => x.uuid).reverse())
    const sorted = await osc(['segment', 'list', '--limit', '2', '--sort', 'name:asc', '--filters', 'service_type=PAGED', '-f', 'json'])
    expect(sorted.code, sorted.err).toBe(0)
    expect(sorted.json.map((x: { name: string }) => x.name)).toEqual(made.map((x) => x.name).sort())
    const bad = await osc(['segment', 'list', '--sort', 'constructor:asc', '-f', 'json'])
    expect(bad.code).not.toBe(0)
    expect(bad.err).toMatch(/400|sort_key/)

    const seg = made[0]!
    const shown = await osc(['segment', 'show', seg.uuid, '-f', 'json'])
    expect(shown.code, shown.err).toBe(0)
    expect(shown.json).toMatchObject({ uuid: seg.uuid, name: 'osc-page-0', service_type: 'PAGED' })
    const updated = await osc(['segment', 'update', seg.uuid, '--description', 'updated by masakariclient', '--recovery_method', 'reserved_host', '-f', 'json'])
    expect(updated.code, updated.err).toBe(0)
    expect(updated.json).toMatchObject({ description: 'updated by masakariclient', recovery_method: 'reserved_host' })

    // Hosts: Nova's names only; every host command.
    const unknown = await osc(['segment', 'host', 'create', 'no-such-host-xyz', 'COMPUTE', 'SSH', seg.uuid, '-f', 'json'])
    expect(unknown.code).not.toBe(0)
    expect(unknown.err).toMatch(/400|could not be found/)
    const h2 = await osc(['segment', 'host', 'create', 'compute2', 'COMPUTE', 'SSH', seg.uuid, '--reserved', 'True', '-f', 'json'])
    expect(h2.code, h2.err).toBe(0)
    expect(h2.json).toMatchObject({ name: 'compute2', reserved: true })
    const h3 = await osc(['segment', 'host', 'create', 'compute3', 'COMPUTE', 'SSH', seg.uuid, '-f', 'json'])
    expect(h3.code, h3.err).toBe(0)
    const hosts = await osc(['segment', 'host', 'list', seg.uuid, '--limit', '1', '-f', 'json'])
    expect(hosts.code, hosts.err).toBe(0)
    expect(hosts.json.map((x: { name: string }) => x.name).sort()).toEqual(['compute2', 'compute3'])
    const hostShown = await osc(['segment', 'host', 'show', seg.uuid, h2.json.uuid, '-f', 'json'])
    expect(hostShown.code, hostShown.err).toBe(0)
    expect(hostShown.json).toMatchObject({ uuid: h2.json.uuid, name: 'compute2', failover_segment_id: seg.uuid })
    const hostUpdated = await osc(['segment', 'host', 'update', seg.uuid, h2.json.uuid, '--on_maintenance', 'True', '--control_attributes', 'IPMI', '-f', 'json'])
    expect(hostUpdated.code, hostUpdated.err).toBe(0)
    expect(hostUpdated.json).toMatchObject({ on_maintenance: true, control_attributes: 'IPMI' })
    const renamed = await osc(['segment', 'host', 'update', seg.uuid, h2.json.uuid, '--name', 'no-such-host-xyz', '-f', 'json'])
    expect(renamed.code).not.toBe(0)
    const hostDeleted = await osc(['segment', 'host', 'delete', seg.uuid, h2.json.uuid])
    expect(hostDeleted.code, hostDeleted.err).toBe(0)
    expect((await osc(['segment', 'host', 'list', seg.uuid, '-f', 'json'])).json.map((x: { name: string }) => x.name)).toEqual(['compute3'])

    // Notifications, paged one at a time.
    const ids: string[] = []
    for (const payload of [
      { event: 'STARTED', host_status: 'NORMAL', cluster_status: 'ONLINE' },
      { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
    ]) {
      const r = await osc(['notification', 'create', 'COMPUTE_HOST', 'compute3', new Date().toISOString().slice(0, 19), JSON.stringify(payload), '-f', 'json'])
      expect(r.code, r.err).toBe(0)
      ids.push(r.json.notification_uuid)
    }
    const notes = await osc(['notification', 'list', '--limit', '1', '--filters', `source_host_uuid=${h3.json.uuid}`, '-f', 'json'])
    expect(notes.code, notes.err).toBe(0)
    expect(notes.json.map((x: { notification_uuid: string }) => x.notification_uuid)).toEqual([...ids].reverse())
    const note = await osc(['notification', 'show', ids[1]!, '-f', 'json'])
    expect(note.code, note.err).toBe(0)
    expect(note.json).toMatchObject({ notification_uuid: ids[1], source_host_uuid: h3.json.uuid })

    // The segment has notifications in progress (no engine behind this api): in use, 409.
    // (The client prints a failed delete's error and exits 0.)
    const inUse = await osc(['segment', 'delete', seg.uuid])
    expect(`${inUse.out}${inUse.err}`).toMatch(/409|in-use/)
    const del = await osc(['segment', 'delete', ...made.slice(1).map((x) => x.uuid)])
    expect(del.code, del.err).toBe(0)
    expect(del.out.match(/Segment deleted/g)).toHaveLength(4)
    const left = await osc(['segment', 'list', '--filters', 'service_type=PAGED', '-f', 'json'])
    expect(left.json.map((x: { uuid: string }) => x.uuid)).toEqual([seg.uuid])
  }, 600_000)

  it('refuses a token Keystone does not know, and changes nothing', async () => {
    const r = await osc(['segment', 'create', 'never', 'auto', 'COMPUTE', '-f', 'json'], 'gAAAAAnot-a-real-token')
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(/401|Unauthorized|authentication/i)
    const segs = await osc(['segment', 'list', '-f', 'json'])
    expect(segs.json.map((s: { name: string }) => s.name)).not.toContain('never')
  }, 120_000)
})
