import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { issueToken, keystoneV3Url, type OpenStackClient } from '@lazarus/openstack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { computeCtl, connect, loadBox, pollUntil, waitComputesUp, type BoxConfig } from '../real-nova/box.js'
import { startRealNovaCluster, type RealNovaCluster } from '../real-nova/cluster.js'
import { repoRoot } from '../support/processes.js'

/**
 * Debian's masakari-monitors (python3-masakari-monitors, unmodified) report to Lazarus as a
 * Masakari deployer would run them: a masakarimonitors.conf with `[api]` Keystone settings,
 * and Lazarus found through the Keystone catalog of the openstack-box as the `instance-ha`
 * service. The box's own Masakari owns `instance-ha` in RegionOne, so Lazarus is registered
 * in a region of its own (`[api] region`), created here and removed afterwards.
 *
 * - processmonitor "on compute1": its own UTS namespace (hostname compute1, which the monitor
 *   puts in the notification) and PID namespace (its `ps -ef` sees only that host's processes).
 *   The box's compute1 nova-compute is stopped and started again inside that namespace by the
 *   monitor's `start_command`, so the monitor watches the real compute1 of the box. It is then
 *   killed; the `restart_command` fails (a host whose nova-compute will not come back), and the
 *   monitor sends a PROCESS notification, which Lazarus handles to `finished`.
 * - hostmonitor "on compute2" (a full cluster member, `pacemaker_node_type = cluster`), with the
 *   commands it runs, Pacemaker's `crmadmin -S` and `cibadmin --query` and the corosync check
 *   `tcpdump`, replaced by test doubles on its PATH (pacemaker-bin/: there is no
 *   Corosync/Pacemaker cluster here; the CIB is the file the test writes). When the CIB shows
 *   compute3 offline it sends COMPUTE_HOST.
 */

const loaded = loadBox()
const MONITORS = ['/usr/bin/masakari-processmonitor', '/usr/bin/masakari-hostmonitor']
const monitorsMissing = MONITORS.filter((f) => !existsSync(f))
if (monitorsMissing.length > 0 && loaded.box && process.env['REAL_NOVA'] === '1') {
  throw new Error(`REAL_NOVA=1 but ${monitorsMissing.join(', ')} missing: apt-get install python3-masakari-monitors (.ci/run does)`)
}
const skipReason = !loaded.box ? loaded.reason : monitorsMissing.length > 0 ? `python3-masakari-monitors is not installed (${monitorsMissing.join(', ')} missing)` : undefined

const PROCESS_HOST = 'compute1'
const HOSTMONITOR_HOST = 'compute2'
const OFFLINE_HOST = 'compute3'

/** One monitor process in its namespaces, with its output kept for failure reports. */
interface Monitor {
  child: ChildProcess
  output: () => string
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>
  stop(): Promise<void>
}

const startMonitor = (o: { hostname: string; pidNamespace: boolean; command: string[]; env?: Record<string, string> }): Monitor => {
  // unshare --fork --kill-child: when unshare dies, so does the namespace's first process, and
  // with it every process of the PID namespace (the nova-compute the monitor started).
  const ns = ['--uts', ...(o.pidNamespace ? ['--pid', '--fork', '--mount-proc', '--kill-child'] : [])]
  const script = `hostname ${o.hostname} && exec "$@"`
  const child = spawn('unshare', [...ns, 'sh', '-c', script, 'monitor', ...o.command], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...o.env },
  })
  let out = ''
  const onData = (d: Buffer) => {
    out += d.toString()
    if (process.env['E2E_VERBOSE']) process.stderr.write(`[${o.hostname} monitor] ${d.toString()}`)
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return {
    child,
    output: () => out,
    async waitFor(pattern, timeoutMs) {
      await pollUntil(
        `monitor on ${o.hostname} to log ${pattern}`,
        async () => {
          if (pattern.test(out)) return true
          if (child.exitCode !== null) throw new Error(`monitor exited (${child.exitCode}):\n${out.slice(-3000)}`)
          return undefined
        },
        timeoutMs,
        200,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nmonitor output:\n${out.slice(-3000)}`)
      })
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      try {
        process.kill(-child.pid!, 'SIGTERM')
      } catch {
        return
      }
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL')
        } catch {
          // gone
        }
      }, 5000)
      await exited
      clearTimeout(t)
    },
  }
}

/**
 * The pid (as this process sees it) of a process running in a child PID namespace whose command
 * line contains `needle`: the nova-compute the namespaced processmonitor started, not the box's.
 */
const namespacedPid = (needle: string): number | undefined => {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (!cmdline.includes(needle)) continue
      const nspid =
        /^NSpid:\s*(.*)$/m
          .exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1]
          ?.trim()
          .split(/\s+/) ?? []
      if (nspid.length > 1) return Number(d)
    } catch {
      // exited meanwhile
    }
  }
  return undefined
}

/** A CIB as `cibadmin --query` prints it: quorum, and each node's controller state. */
const cib = (nodes: Record<string, 'online' | 'offline'>): string => {
  const names = Object.keys(nodes)
  return [
    '<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="12" num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1">',
    '  <configuration>',
    '    <crm_config/>',
    `    <nodes>${names.map((n, i) => `<node id="${i + 1}" uname="${n}"/>`).join('')}</nodes>`,
    '    <resources/>',
    '    <constraints/>',
    '  </configuration>',
    '  <status>',
    ...names.map(
      (n, i) =>
        `    <node_state id="${i + 1}" uname="${n}" in_ccm="${nodes[n] === 'online'}" crmd="${nodes[n]}" join="${nodes[n] === 'online' ? 'member' : 'down'}" expected="member"/>`,
    ),
    '  </status>',
    '</cib>',
    '',
  ].join('\n')
}

if (skipReason) {
  describe('masakari-monitors against Lazarus', () => {
    it.skip(`skipped: ${skipReason}`, () => {})
  })
} else {
  const box: BoxConfig = loaded.box!
  const keystone = keystoneV3Url(box.client.authUrl)

  describe('masakari-monitors (Debian, unmodified) against Lazarus found through the Keystone catalog', () => {
    const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`
    const region = `lazarus-mm-${suffix}`
    let dir: string
    let os: OpenStackClient
    let cluster: RealNovaCluster | undefined
    let adminToken: string
    let segmentId: string
    const catalog: { endpoint?: string; service?: string; region?: string } = {}
    let computeStopped = false

    const keystoneCall = async (method: string, path: string, body?: unknown): Promise<any> => {
      const res = await fetch(`${keystone}${path}`, {
        method,
        headers: { 'x-auth-token': adminToken, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : null,
        signal: AbortSignal.timeout(20_000),
      })
      const text = await res.text()
      if (res.status >= 300) throw new Error(`Keystone ${method} ${path} → ${res.status} ${text}`)
      return text ? JSON.parse(text) : null
    }

    const api = async <T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(`${cluster!.apiUrl}${path}`, {
        method,
        headers: { 'x-auth-token': adminToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      })
      const text = await res.text()
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T }
    }

    const notificationsOf = async (type: string, hostname: string): Promise<any[]> => {
      const r = await api<{ notifications: any[] }>('GET', `/v1/notifications?type=${type}`)
      if (r.status !== 200) throw new Error(`GET /v1/notifications → ${r.status} ${JSON.stringify(r.body)}`)
      return r.body.notifications.filter((n) => n.hostname === hostname)
    }

    /** masakarimonitors.conf as a deployer writes it; the monitor-specific section appended. */
    const monitorsConf = (name: string, section: string): string => {
      const file = join(dir, `${name}.conf`)
      writeFileSync(
        file,
        [
          '[DEFAULT]',
          'debug = false',
          '',
          '[api]',
          // Lazarus's catalog entry: `instance-ha` in a region of its own.
          `region = ${region}`,
          'api_interface = public',
          'auth_type = password',
          `auth_url = ${keystone}`,
          // The box's `masakari` service user, as a Masakari deployment configures its monitors.
          'username = masakari',
          'password = service-pass',
          'project_name = service',
          'user_domain_name = Default',
          'project_domain_name = Default',
          '',
          // The monitors run as root here: privsep's helper without sudo (which would reset PATH).
          '[masakarimonitors_privileged]',
          `helper_command = privsep-helper --config-file ${file}`,
          '',
          section,
          '',
        ].join('\n'),
      )
      return file
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'lazarus-mm-'))
      os = await connect(box)
      adminToken = (await issueToken(box.client, 20_000)).token
      cluster = await startRealNovaCluster(box, {
        // Keystone auth as a Masakari deployment has it: the monitors send Keystone tokens.
        KEYSTONE_URL: keystone,
        // The detector's calls to the api (segment reads), with a token of the box's admin.
        API_TOKEN: adminToken,
      })

      // Lazarus in the catalog: region, `instance-ha` service, public endpoint in Masakari's
      // URL form (`.../v1/%(tenant_id)s`; the api also serves the project-scoped paths).
      catalog.region = (await keystoneCall('POST', '/regions', { region: { id: region, description: 'Lazarus (masakari-monitors test)' } })).region.id
      catalog.service = (await keystoneCall('POST', '/services', { service: { type: 'instance-ha', name: `lazarus-${suffix}`, enabled: true } })).service.id
      catalog.endpoint = (
        await keystoneCall('POST', '/endpoints', {
          endpoint: { service_id: catalog.service, interface: 'public', region_id: region, url: `${cluster.apiUrl}/v1/%(tenant_id)s`, enabled: true },
        })
      ).endpoint.id

      const seg = await api('POST', '/v1/segments', {
        segment: { name: `mm-${suffix}`, recovery_method: 'auto', service_type: 'COMPUTE', quick_evacuate_level: 1 },
      })
      expect(seg.status, JSON.stringify(seg.body)).toBe(201)
      segmentId = seg.body.segment.uuid
      for (const h of box.computeHosts) {
        const r = await api('POST', `/v1/segments/${segmentId}/hosts`, { host: { name: h, type: 'COMPUTE', control_attributes: 'driver=none' } })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
      }
    }, 300_000)

    afterAll(async () => {
      const errors: unknown[] = []
      const step = (f: () => Promise<unknown>) => f().catch((err) => errors.push(err))
      if (catalog.endpoint) await step(() => keystoneCall('DELETE', `/endpoints/${catalog.endpoint}`))
      if (catalog.service) await step(() => keystoneCall('DELETE', `/services/${catalog.service}`))
      if (catalog.region) await step(() => keystoneCall('DELETE', `/regions/${catalog.region}`))
      if (computeStopped) await step(() => computeCtl(box, ['start', PROCESS_HOST, '--wait'], 180_000))
      await step(async () => cluster?.stop())
      if (dir) rmSync(dir, { recursive: true, force: true })
      if (errors.length > 0) throw new AggregateError(errors, `cleanup failed: ${errors.map(String).join('; ')}`)
    }, 300_000)

    it('processmonitor: a killed nova-compute that will not restart becomes a PROCESS notification that Lazarus handles to finished', async () => {
      await waitComputesUp(box, [PROCESS_HOST])
      const boxDir = dirname(box.computeCtl)
      const computeConf = `/etc/nova/nova-${PROCESS_HOST}.conf`
      // The box's compute1 is stopped and started again inside the monitor's namespaces with
      // the box's own command line: the same nova-compute, now a process of "host compute1".
      const start = join(dir, 'start-nova-compute')
      writeFileSync(
        start,
        `#!/bin/sh\nsetsid /usr/bin/python3 ${boxDir}/nova-compute.py --config-file /etc/nova/nova.conf --config-file ${computeConf} >>${dir}/nova-compute.log 2>&1 </dev/null &\n`,
        { mode: 0o755 },
      )
      const restart = join(dir, 'restart-nova-compute')
      writeFileSync(restart, '#!/bin/sh\necho "nova-compute will not start on this host" >&2\nexit 1\n', { mode: 0o755 })
      const processList = join(dir, 'process_list.yaml')
      // Masakari's sample process list, for nova-compute only. The process name is what
      // `ps -ef` shows (a path ending in nova-compute: the notification names `nova-compute`).
      writeFileSync(
        processList,
        [
          '-',
          `    process_name: ${boxDir}/nova-compute`,
          `    start_command: ${start}`,
          '    pre_start_command:',
          '    post_start_command:',
          `    restart_command: ${restart}`,
          '    pre_restart_command:',
          '    post_restart_command:',
          '    run_as_root: False',
          '',
        ].join('\n'),
      )
      const conf = monitorsConf(
        'processmonitor',
        [
          '[process]',
          'check_interval = 1',
          'restart_retries = 1',
          'restart_interval = 1',
          'api_retry_max = 3',
          'api_retry_interval = 2',
          `process_list_path = ${processList}`,
        ].join('\n'),
      )

      computeStopped = true
      await computeCtl(box, ['stop', PROCESS_HOST])
      const monitor = startMonitor({ hostname: PROCESS_HOST, pidNamespace: true, command: ['/usr/bin/masakari-processmonitor', '--config-file', conf] })
      try {
        const pid = await pollUntil(`nova-compute of ${PROCESS_HOST} started by the monitor`, async () => namespacedPid(computeConf), 60_000, 200)
        // Nova hears from it again: the monitor watches a working compute.
        await computeCtl(box, ['wait', PROCESS_HOST, 'up', '120'], 150_000)
        expect(monitor.output()).not.toMatch(/Send a notification/)

        process.kill(pid, 'SIGKILL')
        await monitor.waitFor(/Response: .*notification_uuid=([0-9a-f-]{36})/, 90_000)
        const sentId = /Response: .*notification_uuid=([0-9a-f-]{36})/.exec(monitor.output())![1]

        const done = await pollUntil(
          'the PROCESS notification finished',
          async () => {
            const [n] = await notificationsOf('PROCESS', PROCESS_HOST)
            if (n && ['failed', 'error', 'ignored'].includes(n.status)) throw new Error(`notification ended ${n.status}: ${n.message}`)
            return n?.status === 'finished' ? n : undefined
          },
          120_000,
          500,
        )
        expect(done.notification_uuid).toBe(sentId)
        expect(done.payload).toEqual({ event: 'STOPPED', process_name: 'nova-compute' })
        expect(done.failover_segment_uuid).toBe(segmentId)
        // Masakari's process failure flow: the compute service is disabled, so nothing new is
        // scheduled onto a host whose nova-compute is gone.
        const [svc] = await os.nova.listComputeServices({ host: PROCESS_HOST })
        expect(svc?.status).toBe('disabled')
        expect(monitor.output()).toMatch(/nova-compute will not start on this host/)
      } finally {
        await monitor.stop()
        const [svc] = await os.nova.listComputeServices({ host: PROCESS_HOST }).catch(() => [])
        if (svc?.status === 'disabled') await os.nova.enableComputeService(PROCESS_HOST)
        await computeCtl(box, ['start', PROCESS_HOST, '--wait'], 180_000)
        computeStopped = false
      }
    }, 420_000)

    it('hostmonitor: a node Pacemaker shows offline becomes a COMPUTE_HOST notification in Lazarus', async () => {
      // compute3 is not really dead, so its recovery must not run against the shared box: the
      // segment is paused, and Lazarus accepts and holds the report (status new) instead.
      const paused = await api('POST', `/v1/segments/${segmentId}/pause`, { reason: 'hostmonitor test: the offline node is simulated' })
      expect(paused.status, JSON.stringify(paused.body)).toBe(200)

      const cibFile = join(dir, 'cib.xml')
      const nodes = Object.fromEntries(box.computeHosts.map((h) => [h, 'online' as const])) as Record<string, 'online' | 'offline'>
      writeFileSync(cibFile, cib(nodes))
      const conf = monitorsConf(
        'hostmonitor',
        [
          '[host]',
          'monitoring_driver = default',
          'monitoring_interval = 1',
          'monitoring_samples = 1',
          // No ipmi RA in this cluster (the option's own advice).
          'disable_ipmi_check = true',
          // A full Corosync/Pacemaker member: skips the `systemctl status` probes.
          'pacemaker_node_type = cluster',
          'corosync_multicast_interfaces = lo',
          'corosync_multicast_ports = 5405',
          'api_retry_max = 3',
          'api_retry_interval = 2',
        ].join('\n'),
      )
      const monitor = startMonitor({
        hostname: HOSTMONITOR_HOST,
        pidNamespace: false,
        command: ['/usr/bin/masakari-hostmonitor', '--config-file', conf],
        env: { PATH: `${resolve(repoRoot, 'test/masakari-monitors/pacemaker-bin')}:/usr/sbin:/usr/bin:/sbin:/bin`, LAZARUS_TEST_CIB: cibFile },
      })
      try {
        // It has seen compute3 online (and skips itself, compute2), and reported nothing.
        await monitor.waitFor(new RegExp(`'${OFFLINE_HOST}' is 'online'`), 90_000)
        expect(monitor.output()).not.toMatch(/Send a notification/)
        expect(await notificationsOf('COMPUTE_HOST', OFFLINE_HOST)).toEqual([])

        writeFileSync(cibFile, cib({ ...nodes, [OFFLINE_HOST]: 'offline' }))
        const n = await pollUntil('the COMPUTE_HOST notification', async () => (await notificationsOf('COMPUTE_HOST', OFFLINE_HOST))[0], 60_000, 300)
        expect(n).toMatchObject({
          type: 'COMPUTE_HOST',
          hostname: OFFLINE_HOST,
          failover_segment_uuid: segmentId,
          payload: { event: 'STOPPED', cluster_status: 'OFFLINE', host_status: 'NORMAL' },
          status: 'new',
        })
        expect(n.message).toMatch(/Held/)
        await monitor.waitFor(new RegExp(`Response: .*notification_uuid=${n.notification_uuid}`), 30_000)
        // One report per change: nothing more while compute3 stays offline.
        await new Promise((r) => setTimeout(r, 3000))
        expect(await notificationsOf('COMPUTE_HOST', OFFLINE_HOST)).toHaveLength(1)
      } finally {
        await monitor.stop()
        await api('POST', `/v1/segments/${segmentId}/resume`, { release_held: false })
      }
    }, 240_000)
  })
}
