import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, repoRoot } from '../support/processes.js'
import { startCluster, type Cluster } from '../support/lazarus-cluster.js'
import { writeBmcSecret } from '../../services/fencer/src/testing/bmc-secrets.js'

const run = promisify(execFile)

interface SimServer {
  id: string
  name: string
  host: string
  status: string
}
interface SimRecords {
  evacuations: { serverId: string; from: string; to: string }[]
  powerActions: { host: string; action: string }[]
}
interface Notification {
  notification_uuid: string
  status: string
  message: string | null
}
interface Host {
  uuid: string
  name: string
  on_maintenance: boolean
  control_attributes: string
}

/**
 * The operator's way out of a failed fence: the BMC settings were wrong, so the fence failed,
 * nothing was evacuated and Lazarus left the host on maintenance. The operator fixes the
 * host's control attributes and retries the notification with the `lazarus` CLI; the retry
 * is not ignored for the maintenance Lazarus itself set: it fences and evacuates.
 */
describe('retry after a failed fence, four services as separate processes', () => {
  let c: Cluster
  let segmentId: string
  let hosts: string[]
  let home: string
  beforeAll(async () => {
    c = await startCluster()
    ;({ segmentId, hosts } = await c.registerSegment({ name: 'retry' }))
    home = mkdtempSync(join(tmpdir(), 'lazarus-cli-'))
  }, 120_000)
  afterAll(async () => {
    await c?.stop()
    if (home) rmSync(home, { recursive: true, force: true })
  })

  const status = (id: string, want: (s: string) => boolean, what: string) =>
    eventually(
      what,
      async () => {
        const n = (await c.api<{ notification: Notification }>('GET', `/v1/notifications/${id}`)).body.notification
        return want(n.status) ? n : undefined
      },
      60_000,
      200,
    )
  const hostNamed = async (name: string) => (await c.api<{ hosts: Host[] }>('GET', `/v1/segments/${segmentId}/hosts?name=${name}`)).body.hosts[0] as Host

  it('fences and evacuates on retry once the BMC settings are fixed, although the host is still on maintenance', async () => {
    const victim = hosts[0]!
    const good = (await hostNamed(victim)).control_attributes
    // Wrong credentials: the attributes point at a password file holding the wrong password.
    const bad = good.replace(/password_file=\S+/, `password_file=${writeBmcSecret(`${victim}-wrong`, 'wrong')}`)
    expect(bad).not.toBe(good)
    const h = await hostNamed(victim)
    expect((await c.api('PUT', `/v1/segments/${segmentId}/hosts/${h.uuid}`, { host: { control_attributes: bad } })).status).toBe(200)
    const victims = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers.filter((s) => s.host === victim)
    expect(victims.length).toBeGreaterThan(0)

    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const accepted = await c.reportHostDown(victim)
    expect(accepted.status).toBe(202)
    const id = accepted.body.notification.notification_uuid
    const failed = await status(id, (s) => ['finished', 'failed', 'ignored'].includes(s), 'the first attempt to end')
    expect(failed.status, failed.message ?? '').toBe('failed')
    expect((await c.sim<SimRecords>('GET', '/sim/records')).evacuations.filter((e) => e.from === victim)).toHaveLength(0)
    // Lazarus put the host on maintenance when the recovery began; it stays so.
    expect((await hostNamed(victim)).on_maintenance).toBe(true)

    // The cause fixed: a failed notification keeps nothing "in use", so the host can be updated.
    const fixed = await c.api('PUT', `/v1/segments/${segmentId}/hosts/${h.uuid}`, { host: { control_attributes: good } })
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(200)

    const cli = await run(process.execPath, [join(repoRoot, 'packages/cli/dist/main.js'), 'notification', 'retry', id], {
      env: { ...process.env, LAZARUS_URL: c.apiUrl, HOME: home, XDG_CONFIG_HOME: home },
      timeout: 60_000,
    })
    // It says what will happen: the host is fenced again with its current control attributes, then evacuated.
    expect(cli.stdout).toMatch(/queued again/)
    expect(cli.stdout).toMatch(new RegExp(`host ${victim} \\(on maintenance from this recovery\\) is fenced with its current control attributes, then its instances are evacuated`))

    const done = await status(id, (s) => ['finished', 'failed', 'ignored'].includes(s), 'the retry to end')
    expect(done.status, done.message ?? '').toBe('finished')
    const rec = await c.sim<SimRecords>('GET', '/sim/records')
    expect(rec.powerActions.filter((p) => p.host === victim && /off/i.test(p.action))).toHaveLength(1)
    const after = (await c.sim<{ servers: SimServer[] }>('GET', '/sim/servers')).servers
    for (const v of victims) {
      expect(after.find((s) => s.id === v.id)?.host, v.name).not.toBe(victim)
      expect(rec.evacuations.filter((e) => e.serverId === v.id)).toHaveLength(1)
    }

    // Retrying a finished notification is refused; so is one whose host an operator put on maintenance.
    const again = await c.api('POST', `/v1/notifications/${id}/retry`, {})
    expect(again.status).toBe(409)
  }, 180_000)

  it('refuses to retry when the host is on maintenance that an operator set, saying why', async () => {
    const victim = hosts[1]!
    const h = await hostNamed(victim)
    await c.sim('PUT', `/sim/hosts/${victim}/bmc-fault`, { fault: 'refuse' })
    await c.sim('POST', `/sim/hosts/${victim}/crash`)
    const accepted = await c.reportHostDown(victim)
    const id = accepted.body.notification.notification_uuid
    expect((await status(id, (s) => ['finished', 'failed', 'ignored'].includes(s), 'the fence to fail')).status).toBe('failed')
    // The operator takes the host off maintenance and puts it back by hand: now it is theirs.
    expect((await c.api('PUT', `/v1/segments/${segmentId}/hosts/${h.uuid}`, { host: { on_maintenance: false } })).status).toBe(200)
    expect((await c.api('PUT', `/v1/segments/${segmentId}/hosts/${h.uuid}`, { host: { on_maintenance: true } })).status).toBe(200)
    const r = await c.api<{ conflictingRequest: { message: string } }>('POST', `/v1/notifications/${id}/retry`, {})
    expect(r.status).toBe(409)
    expect(r.body.conflictingRequest.message).toMatch(/on maintenance \(set by an operator\); take it off maintenance first/)
    const n = (await c.api<{ notification: Notification }>('GET', `/v1/notifications/${id}`)).body.notification
    expect(n.status).toBe('failed')
  }, 120_000)
})
