import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { OpenStackClient } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, deleteServers, loadBox, pollUntil, serversNamed, waitComputesUp, type BoxConfig } from '../real-nova/box.js'
import { startRealNovaCluster, type RealNovaCluster } from '../real-nova/cluster.js'
import { parseJunit, type JunitCase } from './junit.js'

/**
 * Masakari 14's own functional suite (Debian's python3-masakari ships it in
 * masakari/tests/functional: segments, hosts, PROCESS and VM notifications), run as it is
 * with `python3 -m pytest` and openstacksdk against
 * - Lazarus's four services on the openstack-box, authenticated by the box's Keystone, the
 *   `instance-ha` endpoint pointed at Lazarus's api by `instance_ha_endpoint_override`;
 * - the box's own Masakari (from Keystone's catalog), to show the suite and the box agree.
 * Its notification tests boot servers on the Neutron stub's network `private`.
 *
 * 17 tests, none skipped, each way. The suite assumes a Masakari nobody else uses (it lists
 * segments, and registers the Nova hypervisors as hosts): against the box's Masakari, old
 * leftovers are removed first, and a segment someone made in the last minutes fails the
 * case with its name instead of a confusing count.
 */

const run = promisify(execFile)
const SUITE = '/usr/lib/python3/dist-packages/masakari/tests/functional'
const PY = '/usr/bin/python3'
const APT = ['install', '-y', '-q', 'python3-masakari', 'python3-oslotest', 'python3-pytest']
const TOTAL = 17
/** The reason Lazarus's evacuator gives when it disables a compute service here (afterAll re-enables those). */
const LAZARUS_REASON = 'lazarus masakari-functional: process failed'
const MASAKARI_REASON = 'Masakari detected process failed.'
/** The box's Neutron stub (infra/openstack-box/neutron_stub.py). */
const NEUTRON_URL = process.env['NEUTRON_URL'] ?? 'http://127.0.0.1:9696/v2.0'
const PREFIX = 'lzr-mf-'

const suiteReady = async (): Promise<boolean> => {
  if (!existsSync(join(SUITE, 'test_vm_notifications.py'))) return false
  try {
    await run(PY, ['-c', 'import oslotest, pytest, ddt, openstack, masakari.tests.functional.base'], { timeout: 60_000 })
    return true
  } catch {
    return false
  }
}

/** Install the suite's Debian packages if they are missing; false when that is not possible here. */
const ensureSuite = async (): Promise<boolean> => {
  if (await suiteReady()) return true
  try {
    await run('apt-get', APT, { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } catch (err) {
    process.stderr.write(`masakari-functional: \`apt-get ${APT.join(' ')}\` failed: ${(err as Error).message.split('\n')[0]}\n`)
  }
  return suiteReady()
}

const loaded = loadBox()

if (!loaded.box) {
  describe("Masakari's functional suite", () => {
    it.skip(`skipped: ${loaded.reason}`, () => {})
  })
} else {
  const box: BoxConfig = loaded.box
  const ready = await ensureSuite()
  if (!ready && process.env['REAL_NOVA'] === '1') {
    throw new Error(`REAL_NOVA=1 but Masakari's functional suite cannot run: apt-get ${APT.join(' ')} (python3-masakari, python3-oslotest, python3-pytest)`)
  }

  describe.skipIf(!ready)("Masakari 14's functional suite (python3-masakari), unchanged, with openstacksdk", () => {
    let os: OpenStackClient
    let dir: string

    beforeAll(async () => {
      os = await connect(box)
      dir = mkdtempSync(join(tmpdir(), 'lazarus-masakari-ft-'))
      await waitComputesUp(box)
    }, 300_000)

    afterAll(async () => {
      // A notification test that failed half-way leaves a compute disabled by the process
      // flow (the suite re-enables it only when it passes): put it back into service.
      if (os) {
        for (const s of await os.nova.listComputeServices().catch(() => [])) {
          if (s.status === 'disabled' && (s.disabledReason === LAZARUS_REASON || s.disabledReason === MASAKARI_REASON)) {
            await os.nova.enableComputeService(s.host).catch(() => undefined)
          }
        }
      }
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    /** Write clouds.yaml and run the suite for `cloud`; the test cases from its JUnit report. */
    const runSuite = async (name: string, extra: Record<string, string>): Promise<{ cases: JunitCase[]; output: string }> => {
      const c = box.client
      const cloud = [
        'clouds:',
        `  ${name}:`,
        '    auth:',
        `      auth_url: ${JSON.stringify(c.authUrl)}`,
        `      username: ${JSON.stringify(c.username)}`,
        `      password: ${JSON.stringify(c.password)}`,
        `      project_name: ${JSON.stringify(c.projectName)}`,
        `      user_domain_name: ${JSON.stringify(c.userDomainName ?? 'Default')}`,
        `      project_domain_name: ${JSON.stringify(c.projectDomainName ?? 'Default')}`,
        `    region_name: ${JSON.stringify(c.regionName ?? 'RegionOne')}`,
        `    interface: ${JSON.stringify(c.interface ?? 'public')}`,
        '    identity_api_version: 3',
        ...Object.entries(extra).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
        '',
      ].join('\n')
      const clouds = join(dir, `clouds-${name}.yaml`)
      writeFileSync(clouds, cloud)
      const report = join(dir, `junit-${name}.xml`)
      // Nothing of this shell's OS_* (they would override the cloud's settings).
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_')))
      const args = ['-m', 'pytest', '-p', 'no:cacheprovider', '-q', '-rfEs', '--rootdir', dir, `--junitxml=${report}`, SUITE]
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn(PY, args, { cwd: dir, env: { ...env, OS_CLOUD: name, OS_CLIENT_CONFIG_FILE: clouds, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        child.stdout.on('data', (d: Buffer) => (out += d.toString()))
        child.stderr.on('data', (d: Buffer) => (out += d.toString()))
        // The suite's own waits are bounded (300 s for a server, 600 s for a VM notification);
        // this bounds the whole run.
        const timer = setTimeout(() => child.kill('SIGKILL'), 1_200_000)
        child.on('error', reject)
        child.on('close', () => {
          clearTimeout(timer)
          resolve(out)
        })
      })
      if (!existsSync(report)) throw new Error(`pytest wrote no report; its output:\n${output.slice(-4000)}`)
      return { cases: parseJunit(readFileSync(report, 'utf8')), output }
    }

    const summary = (cases: JunitCase[]) =>
      cases.map((t) => `${t.outcome.padEnd(7)} ${t.classname}.${t.name} (${t.time.toFixed(1)} s)${t.message ? `: ${t.message}` : ''}`).join('\n')

    const expectAllPassed = (cases: JunitCase[], output: string) => {
      const bad = cases.filter((t) => t.outcome !== 'passed')
      const detail = `${summary(cases)}\n\n${bad.length > 0 ? output.slice(-6000) : ''}`
      expect(cases.length, detail).toBe(TOTAL)
      expect(
        bad.map((t) => `${t.classname}.${t.name}: ${t.outcome}`),
        detail,
      ).toEqual([])
    }

    describe("against Lazarus's four services", () => {
      let cluster: RealNovaCluster | undefined

      beforeAll(async () => {
        cluster = await startRealNovaCluster(box, {
          KEYSTONE_URL: box.client.authUrl,
          SERVICE_DISABLE_REASON: LAZARUS_REASON,
        })
      }, 180_000)

      afterAll(async () => {
        await cluster?.stop()
      })

      it(`passes all ${TOTAL} tests, none skipped`, async () => {
        const { cases, output } = await runSuite('lazarus', { instance_ha_endpoint_override: `${cluster!.apiUrl}/v1` })
        process.stderr.write(`Masakari functional suite against Lazarus:\n${summary(cases)}\n`)
        expectAllPassed(cases, output)
      }, 1_300_000)

      it('stops and starts a running instance for the VM notification masakari-monitors sends for a crashed guest, and finishes it', async () => {
        const api = async (method: string, path: string, body?: unknown) => {
          const res = await fetch(`${cluster!.apiUrl}${path}`, {
            method,
            headers: { 'X-Auth-Token': await os.token(), 'OpenStack-API-Version': 'instance-ha 1.1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            body: body === undefined ? null : JSON.stringify(body),
          })
          const text = await res.text()
          return { status: res.status, body: text ? (JSON.parse(text) as any) : null }
        }
        const old = await serversNamed(os, PREFIX)
        if (old.length > 0) await deleteServers(os, old)
        const net = (await (await fetch(`${NEUTRON_URL}/networks?name=private`, { headers: { 'X-Auth-Token': await os.token() } })).json()) as { networks: { id: string }[] }
        expect(net.networks, 'the Neutron stub offers a network named private').toHaveLength(1)
        const images = (await os.computeRequest('GET', `/images?name=${encodeURIComponent(box.image)}`, { microversion: '2.35' })).body as { images: { id: string }[] }
        const flavors = (await os.computeRequest('GET', '/flavors')).body as { flavors: { id: string; name: string }[] }
        const boot = await os.computeRequest('POST', '/servers', {
          microversion: '2.37',
          body: {
            server: {
              name: `${PREFIX}vm`,
              imageRef: images.images[0]!.id,
              flavorRef: flavors.flavors.find((f) => f.name === box.flavor)!.id,
              networks: [{ uuid: net.networks[0]!.id }],
              metadata: { HA_Enabled: 'True' },
            },
          },
        })
        expect(boot.status, JSON.stringify(boot.body)).toBe(202)
        const id = (boot.body as { server: { id: string } }).server.id
        let segmentId: string | undefined
        try {
          const server = await pollUntil(
            'the server ACTIVE',
            async () => {
              const s = await os.nova.getServer(id)
              if (s.status === 'ERROR') throw new Error(`server ${id} went to ERROR`)
              return s.status === 'ACTIVE' && s.taskState === null ? s : undefined
            },
            120_000,
            500,
          )
          const ports = (await (await fetch(`${NEUTRON_URL}/ports?device_id=${id}`)).json()) as { ports: { network_id: string }[] }
          expect(
            ports.ports.map((p) => p.network_id),
            'Nova made the server a port on private',
          ).toEqual([net.networks[0]!.id])
          const seg = await api('POST', '/v1/segments', { segment: { name: `${PREFIX}seg-${Date.now()}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
          expect(seg.status, JSON.stringify(seg.body)).toBe(201)
          segmentId = seg.body.segment.uuid as string
          const host = await api('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: server.host, type: 'COMPUTE', control_attributes: 'SSH' } })
          expect(host.status, JSON.stringify(host.body)).toBe(201)

          // Literally what instancemonitor posts (libvirt_handler/callback.py) for a guest
          // that crashed: libvirt's LIFECYCLE event with the detail STOPPED_FAILED.
          const posted = await api('POST', '/v1/notifications', {
            notification: {
              type: 'VM',
              hostname: server.host,
              generated_time: new Date().toISOString().slice(0, 19),
              payload: { event: 'LIFECYCLE', instance_uuid: id, vir_domain_event: 'STOPPED_FAILED' },
            },
          })
          expect(posted.status, JSON.stringify(posted.body)).toBe(202)
          const nid = posted.body.notification.notification_uuid as string
          const done = await pollUntil(
            'the notification over',
            async () => {
              const n = (await api('GET', `/v1/notifications/${nid}`)).body.notification
              return ['finished', 'failed', 'ignored', 'error'].includes(n.status) ? n : undefined
            },
            180_000,
            500,
          )
          expect(done.status, JSON.stringify(done)).toBe('finished')
          const tasks = Object.fromEntries((done.recovery_workflow_details as { name: string; state: string }[]).map((t) => [t.name, t.state]))
          expect(tasks).toMatchObject({ stop_instance_task: 'SUCCESS', start_instance_task: 'SUCCESS', confirm_instance_active_task: 'SUCCESS' })
          // Nova's record: besides its creation, the server was stopped once and started once
          // (in that order by the tasks above; Nova's start_time has a one-second grain, too
          // coarse to order the two).
          const actions = (await os.computeRequest('GET', `/servers/${id}/os-instance-actions`)).body as { instanceActions: { action: string }[] }
          expect(actions.instanceActions.map((a) => a.action).sort()).toEqual(['create', 'start', 'stop'])
          const order = (done.recovery_workflow_details as { name: string }[]).map((t) => t.name)
          expect(order.indexOf('stop_instance_task')).toBeLessThan(order.indexOf('start_instance_task'))
          const after = await os.nova.getServer(id)
          expect(after.status).toBe('ACTIVE')
        } finally {
          await deleteServers(os, [id])
          if (segmentId) {
            const hosts = (await api('GET', `/v1/segments/${segmentId}/hosts`)).body?.hosts ?? []
            for (const h of hosts) await api('DELETE', `/v1/segments/${segmentId}/hosts/${h.uuid}`)
            await api('DELETE', `/v1/segments/${segmentId}`)
          }
        }
      }, 300_000)
    })

    describe.skipIf(!box.masakariUrl)("against the box's Masakari 14.0.2", () => {
      /** Masakari's segments, to clear leftovers and to see whether someone else is using it. */
      const masakari = async (method: string, path: string) => {
        const token = await os.token()
        const res = await fetch(`${box.masakariUrl}${path}`, { method, headers: { 'X-Auth-Token': token } })
        const text = await res.text()
        return { status: res.status, body: text ? (JSON.parse(text) as any) : null }
      }

      beforeAll(async () => {
        const old = Date.now() - 10 * 60_000
        const { body } = await masakari('GET', '/segments')
        const segments = (body?.segments ?? []) as { uuid: string; name: string; created_at: string }[]
        const fresh: string[] = []
        for (const s of segments) {
          if (Date.parse(`${s.created_at}Z`) < old) {
            // A leftover (an interrupted run, masakari-test.sh's osbox-seg): its hosts are the
            // suite's hypervisors, which Masakari will not register twice.
            const hosts = (await masakari('GET', `/segments/${s.uuid}/hosts`)).body?.hosts ?? []
            for (const h of hosts) await masakari('DELETE', `/segments/${s.uuid}/hosts/${h.uuid}`)
            const r = await masakari('DELETE', `/segments/${s.uuid}`)
            if (r.status !== 204) fresh.push(`${s.name} (delete → ${r.status})`)
          } else {
            fresh.push(s.name)
          }
        }
        if (fresh.length > 0) {
          throw new Error(`the box's Masakari is in use (segments ${fresh.join(', ')}): the suite needs it to itself (it lists every segment and registers the computes)`)
        }
      }, 120_000)

      it(`passes all ${TOTAL} tests, none skipped`, async () => {
        const { cases, output } = await runSuite('osbox', {})
        process.stderr.write(`Masakari functional suite against the box's Masakari:\n${summary(cases)}\n`)
        // The suite's segments are named after its tests; any other one is someone else's,
        // made during the run (the list tests then count it): say so in the failure.
        const { body } = await masakari('GET', '/segments')
        const foreign = ((body?.segments ?? []) as { name: string; created_at: string }[]).filter((s) => !s.name.startsWith('masakari.tests.functional.'))
        const note = foreign.length > 0 ? `\nanother user made segments in the box's Masakari during the run: ${foreign.map((s) => `${s.name} (${s.created_at})`).join(', ')}` : ''
        expectAllPassed(cases, `${output}${note}`)
      }, 1_300_000)
    })
  })
}
