import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot, startNode, type RunningProcess } from '../support/processes.js'

/**
 * Debian's python3-openstacksdk, unmodified: `conn.instance_ha` segments, hosts and
 * notifications against Lazarus's api, with Keystone password auth against cloud-sim and
 * the api as the instance-ha endpoint. The SDK pages by itself (limit, and the integer `id`
 * of the last item as marker), so a list longer than a page proves Masakari's markers.
 * (Bookworm's SDK 0.101 has no vmove resource; vmoves are tested over HTTP.)
 */

const run = promisify(execFile)
const APT = ['install', '-y', '-q', 'python3-openstacksdk']

const sdkInstalled = async (): Promise<boolean> => {
  try {
    await run('/usr/bin/python3', ['-c', 'import openstack.instance_ha.v1._proxy'], { timeout: 30_000 })
    return true
  } catch {
    return false
  }
}
const ensureSdk = async (): Promise<boolean> => {
  if (await sdkInstalled()) return true
  try {
    await run('apt-get', APT, { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } catch (err) {
    process.stderr.write(`openstacksdk test: \`apt-get ${APT.join(' ')}\` failed: ${(err as Error).message.split('\n')[0]}\n`)
  }
  return sdkInstalled()
}

const available = await ensureSdk()
if (!available) process.stderr.write(`openstacksdk test SKIPPED: python3-openstacksdk is not installed and could not be (apt-get ${APT.join(' ')})\n`)

describe.skipIf(!available)('python3-openstacksdk (conn.instance_ha) against the api', () => {
  let sim: RunningProcess
  let api: RunningProcess
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let vhost: Awaited<ReturnType<typeof createTestVhost>>
  let apiUrl: string
  let simInfo: { authUrl: string; hosts: string[]; credentials: { username: string; password: string; projectName: string } }
  let home: string

  beforeAll(async () => {
    for (const f of ['services/api/dist/main.js', 'packages/cloud-sim/dist/main.js']) {
      if (!existsSync(join(repoRoot, f))) throw new Error(`${f} is missing: build first (npx tsc -b)`)
    }
    db = await createTestDatabase(`lazarus_openstacksdk_${process.pid}`)
    vhost = await createTestVhost(`lazarus-openstacksdk-${process.pid}`)
    sim = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', { SIM_PORT: '0', SIM_HOSTS: '3' })
    simInfo = JSON.parse(await sim.waitForLine(/"authUrl"/, 30_000))
    const c = simInfo.credentials
    api = startNode('api', 'services/api/dist/main.js', {
      API_PORT: '0',
      DATABASE_URL: db.url,
      AMQP_URL: vhost.url,
      KEYSTONE_URL: simInfo.authUrl,
      // Tokens validated with cloud-sim's Keystone; host names looked up in its Nova.
      OS_AUTH_URL: simInfo.authUrl,
      OS_USERNAME: c.username,
      OS_PASSWORD: c.password,
      OS_PROJECT_NAME: c.projectName,
      COMPUTE_HOST_CHECK: 'nova',
      LOG_LEVEL: 'info',
    })
    const line = await api.waitForLine(/api listening/, 60_000)
    apiUrl = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
    home = mkdtempSync(join(tmpdir(), 'lazarus-sdk-'))
  }, 120_000)

  afterAll(async () => {
    await api?.stop()
    await sim?.stop()
    await vhost?.drop()
    await db?.drop()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  it('creates, pages (its own markers), shows, updates and deletes segments, hosts and notifications', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_')))
    const c = simInfo.credentials
    let r: { stdout: string; stderr: string }
    try {
      r = await run('/usr/bin/python3', [join(repoRoot, 'test/api/openstacksdk_client.py')], {
        env: {
          ...env,
          HOME: home,
          SDK_AUTH_URL: simInfo.authUrl,
          SDK_USERNAME: c.username,
          SDK_PASSWORD: c.password,
          SDK_PROJECT: c.projectName,
          SDK_ENDPOINT: `${apiUrl}/v1`,
          SDK_HOSTS: simInfo.hosts.join(','),
        },
        cwd: home,
        timeout: 120_000,
      })
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string }
      throw new Error(`the SDK script failed:\n${e.stderr ?? ''}\n${e.stdout ?? ''}\napi log tail:\n${api.lines.slice(-20).join('\n')}`)
    }
    const out = JSON.parse(r.stdout)
    // Five segments read two at a time: three requests, the SDK's markers taken.
    expect(out.paged).toEqual([...out.created].reverse())
    expect(out.paged_sorted).toEqual([...out.paged_sorted].sort())
    expect(out.paged_sorted).toHaveLength(5)
    expect(Number.isInteger(out.get_segment.id)).toBe(true)
    expect(out.get_segment.uuid).toBe(out.created[0])
    expect(out.update_segment).toBe('changed by the sdk')
    expect(out.hosts_paged).toEqual([...simInfo.hosts].sort())
    expect(out.get_host).toEqual({ name: simInfo.hosts[0], failover_segment_id: out.created[0] })
    expect(out.update_host).toBe(true)
    expect(out.hosts_after_delete).toEqual([...simInfo.hosts.slice(1)].sort())
    expect(out.unknown_host).toBe(400)
    expect(out.notifications_paged).toEqual([...out.notifications_created].reverse())
    expect(out.get_notification).toBe(out.notifications_created[0])
    expect(out.remaining).toEqual([out.created[0]])
  }, 300_000)
})
