import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBox } from '../real-nova/box.js'
import { issueToken, segmentBody, startApiProcess, type ApiProcess } from './api-process.js'

/**
 * Who may do what, over the api process and Keystone (cloud-sim's, and the openstack-box's
 * when it is up): Masakari's defaults (admin only; a monitor may post notifications), the
 * token's project against `/v1/{project_id}`, the dashboard and the event streams under the
 * same policy, and a policy file that opens reads.
 */

const PASSWORD = 'sec-pass'

describe('api policy with Keystone (cloud-sim)', () => {
  let sim: CloudSim
  let api: ApiProcess
  let opened: ApiProcess
  let dir: string
  const tokens: Record<string, string> = {}
  let adminProject = ''
  let otherProject = ''
  let segmentId = ''
  let notificationId = ''

  beforeAll(async () => {
    sim = await startCloudSim({ hosts: 1, instancesPerHost: 0 })
    adminProject = sim.addKeystoneUser({ name: 'ops-reader', password: PASSWORD, projectName: sim.credentials.projectName, roles: ['reader'] }).projectId
    otherProject = sim.addKeystoneUser({ name: 'tenant-member', password: PASSWORD, projectName: 'tenant-a', roles: ['member', 'reader'] }).projectId
    sim.addKeystoneUser({ name: 'hostmonitor', password: PASSWORD, projectName: 'service', roles: ['service'] })
    const keystoneEnv = {
      KEYSTONE_URL: sim.authUrl,
      OS_USERNAME: sim.credentials.username,
      OS_PASSWORD: sim.credentials.password,
      OS_PROJECT_NAME: sim.credentials.projectName,
    }
    dir = mkdtempSync(join(tmpdir(), 'lazarus-policy-'))
    // An operator opening reads to the readers of one project (the operations team's), in
    // oslo.policy's YAML.
    writeFileSync(
      join(dir, 'policy.yaml'),
      [
        '# reads for readers of the operations project',
        `"ops_reader": "role:reader and project_id:${adminProject}"`,
        '"os_masakari_api:segments:index": "rule:admin_api or rule:ops_reader"',
        '"lazarus:dashboard:state": "rule:admin_api or (rule:ops_reader)"',
        '',
      ].join('\n'),
    )
    ;[api, opened] = await Promise.all([startApiProcess('policy', keystoneEnv), startApiProcess('policy_file', { ...keystoneEnv, POLICY_FILE: join(dir, 'policy.yaml') })])
    tokens['admin'] = await issueToken(sim.authUrl, sim.credentials)
    tokens['reader'] = await issueToken(sim.authUrl, { username: 'ops-reader', password: PASSWORD, projectName: sim.credentials.projectName })
    tokens['member'] = await issueToken(sim.authUrl, { username: 'tenant-member', password: PASSWORD, projectName: 'tenant-a' })
    tokens['monitor'] = await issueToken(sim.authUrl, { username: 'hostmonitor', password: PASSWORD, projectName: 'service' })

    const seg = await api.call('POST', '/v1/segments', { token: tokens['admin'], body: segmentBody(`sec-${randomBytes(3).toString('hex')}`) })
    expect(seg.status).toBe(201)
    segmentId = seg.body.segment.uuid
    const host = await api.call('POST', `/v1/segments/${segmentId}/hosts`, {
      token: tokens['admin'],
      body: {
        host: {
          name: `sec-host-${randomBytes(3).toString('hex')}`,
          type: 'COMPUTE',
          control_attributes: 'driver=redfish address=https://bmc username=admin password_file=/etc/lazarus/bmc/bmc',
        },
      },
    })
    expect(host.status, JSON.stringify(host.body)).toBe(201)
    const n = await api.call('POST', '/v1/notifications', {
      token: tokens['monitor'],
      body: {
        notification: {
          type: 'COMPUTE_HOST',
          hostname: host.body.host.name,
          generated_time: new Date().toISOString(),
          payload: { event: 'STOPPED', host_status: 'NORMAL', cluster_status: 'OFFLINE' },
        },
      },
    })
    expect(n.status).toBe(202) // a monitor may report a failure
    notificationId = n.body.notification.notification_uuid
  }, 120_000)

  afterAll(async () => {
    await Promise.all([api?.stop(), opened?.stop()])
    await sim?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("refuses every read and write to a member of another project (403), and to a reader, as Masakari's admin_api does", async () => {
    for (const who of ['member', 'reader'] as const) {
      const token = tokens[who]
      for (const [method, path, body] of [
        ['GET', '/v1/segments'],
        ['GET', `/v1/segments/${segmentId}`],
        ['GET', `/v1/segments/${segmentId}/hosts`],
        ['GET', '/v1/notifications'],
        ['GET', `/v1/notifications/${notificationId}`],
        ['GET', `/v1/notifications/${notificationId}/vmoves`],
        ['GET', '/v1/alerts'],
        ['POST', '/v1/segments', segmentBody('nope')],
        ['DELETE', `/v1/segments/${segmentId}`],
        ['POST', `/v1/segments/${segmentId}/pause`, {}],
        // Capacity and plans name the instances of every tenant: admin only too.
        ['GET', `/v1/segments/${segmentId}/capacity`],
        ['POST', `/v1/segments/${segmentId}/plans`, { plan: { hosts: ['x'] } }],
      ] as const) {
        const r = await api.call(method, path, { token, body })
        expect(r.status, `${who} ${method} ${path}`).toBe(403)
        expect(r.body.forbidden.message).toMatch(/os_masakari_api:|lazarus:/)
      }
    }
    // Nothing changed: the segment is still there and not paused.
    const seg = await api.call('GET', `/v1/segments/${segmentId}`, { token: tokens['admin'] })
    expect(seg.status).toBe(200)
    expect(seg.body.segment.paused).toBe(false)
  })

  it('lets a monitor post notifications and nothing else', async () => {
    expect((await api.call('GET', '/v1/segments', { token: tokens['monitor'] })).status).toBe(403)
    expect((await api.call('GET', `/v1/notifications/${notificationId}`, { token: tokens['monitor'] })).status).toBe(403)
    expect((await api.call('POST', '/v1/segments', { token: tokens['monitor'], body: segmentBody('mon') })).status).toBe(403)
  })

  it('keeps the dashboard data and the event streams under the same policy', async () => {
    for (const who of ['member', 'reader', 'monitor'] as const) {
      expect((await api.call('GET', '/dashboard/state', { token: tokens[who] })).status, who).toBe(403)
      expect((await api.call('GET', '/dashboard/events', { token: tokens[who] })).status, who).toBe(403)
      expect((await api.call('GET', `/v1/notifications/${notificationId}/events`, { token: tokens[who] })).status, who).toBe(403)
    }
    expect((await api.call('GET', '/dashboard/state')).status).toBe(401)
    expect((await api.call('GET', '/dashboard/state', { token: tokens['admin'] })).status).toBe(200)
    const session = await api.call('GET', '/dashboard/session', { token: tokens['member'] })
    expect(session.body).toMatchObject({ auth_required: true, authenticated: false })
  })

  it("checks the token's project against /v1/{project_id} (Masakari's 400), before the policy", async () => {
    const own = await api.call('GET', `/v1/${adminProject}/segments`, { token: tokens['admin'] })
    expect(own.status).toBe(200)
    const other = await api.call('GET', `/v1/${otherProject}/segments`, { token: tokens['admin'] })
    expect(other.status).toBe(400)
    expect(other.body.badRequest.message).toContain(`URL's project_id '${otherProject}' doesn't match Context's project_id '${adminProject}'`)
    const write = await api.call('POST', `/v1/${otherProject}/segments`, { token: tokens['admin'], body: segmentBody('elsewhere') })
    expect(write.status).toBe(400)
    const names = (await api.call('GET', '/v1/segments', { token: tokens['admin'] })).body.segments.map((s: { name: string }) => s.name)
    expect(names).not.toContain('elsewhere')
  })

  it('reads a policy file: reads opened to readers of one project, not to readers of others, writes still admin only', async () => {
    expect((await opened.call('GET', '/v1/segments', { token: tokens['reader'] })).status).toBe(200)
    expect((await opened.call('GET', '/dashboard/state', { token: tokens['reader'] })).status).toBe(200)
    // The member holds `reader` too, but in another project.
    expect((await opened.call('GET', '/v1/segments', { token: tokens['member'] })).status).toBe(403)
    expect((await opened.call('GET', `/v1/segments/${segmentId}`, { token: tokens['reader'] })).status).toBe(403)
    expect((await opened.call('POST', '/v1/segments', { token: tokens['reader'], body: segmentBody('r') })).status).toBe(403)
  })

  it('refuses to start on a policy file with a typo in an action name, naming it', async () => {
    writeFileSync(join(dir, 'typo.yaml'), '"lazarus:segments:pauze": "role:admin"\n')
    await expect(
      startApiProcess('policy_typo', { KEYSTONE_URL: sim.authUrl, OS_USERNAME: 'x', OS_PASSWORD: 'y', OS_PROJECT_NAME: 'z', POLICY_FILE: join(dir, 'typo.yaml') }),
    ).rejects.toThrow(/unknown action 'lazarus:segments:pauze'/)
  })
})

const boxed = loadBox()

describe.skipIf(!boxed.box)("api policy with the openstack-box's real Keystone", () => {
  const box = boxed.box!
  const authUrl = box.client.authUrl.replace(/\/+$/, '')
  const tag = `lazarus-sec-${process.pid}-${randomBytes(3).toString('hex')}`
  let adminToken = ''
  let api: ApiProcess
  const created: string[] = []

  const keystone = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${authUrl}${path}`, {
      method,
      headers: { 'X-Auth-Token': adminToken, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(20_000),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`Keystone ${method} ${path}: ${res.status} ${text}`)
    return text ? JSON.parse(text) : null
  }

  beforeAll(async () => {
    adminToken = await issueToken(authUrl, box.client)
    // A project of its own, a user in it with Keystone's `member` role: an ordinary tenant.
    const project = (await keystone('POST', '/projects', { project: { name: tag, domain_id: 'default' } })).project
    created.push(`/projects/${project.id}`)
    const user = (await keystone('POST', '/users', { user: { name: tag, password: PASSWORD, domain_id: 'default', default_project_id: project.id } })).user
    created.push(`/users/${user.id}`)
    const roles = (await keystone('GET', '/roles?name=member')).roles
    await keystone('PUT', `/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`)
    api = await startApiProcess('policy_box', {
      KEYSTONE_URL: authUrl,
      OS_USERNAME: box.client.username,
      OS_PASSWORD: box.client.password,
      OS_PROJECT_NAME: box.client.projectName,
    })
  }, 120_000)

  afterAll(async () => {
    await api?.stop()
    for (const path of created.reverse()) await keystone('DELETE', path).catch(() => undefined)
  })

  it('refuses a member of a non-admin project (403), and serves the admin', async () => {
    const member = await issueToken(authUrl, { username: tag, password: PASSWORD, projectName: tag })
    const r = await api.call('GET', '/v1/segments', { token: member })
    expect(r.status).toBe(403)
    expect(r.body.forbidden.message).toContain('os_masakari_api:segments:index')
    expect((await api.call('POST', '/v1/segments', { token: member, body: segmentBody(tag) })).status).toBe(403)
    expect((await api.call('GET', '/v1/segments', { token: await issueToken(authUrl, box.client) })).status).toBe(200)
  })
})
