import { randomBytes, randomUUID } from 'node:crypto'
import { createBus, type Bus } from '@lazarus/bus'
import { DEFAULT_SERVICE_DISABLE_REASON, LazarusEvent, makeEvent, type HostFencedV1, type LazarusEvent as Event, type QueueSpec, type RecoveryFinishedV1 } from '@lazarus/contracts'
import { createOpenStackClient, type NovaClient } from '@lazarus/openstack'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { simClient } from '../support/http.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/**
 * cloud-sim and evacuator processes (the built `dist/main.js`) over a RabbitMQ vhost and a
 * PostgreSQL database of their own, with an observer of what the evacuators publish.
 * Used by the evacuator chaos test and the evacuation benchmark.
 */
export interface EvacuationRig {
  simUrl: string
  nova: NovaClient
  bus: Bus
  seen: Event[]
  /** When each seen event arrived (performance.now()). */
  arrivedAt: Map<Event, number>
  /** When the last failHost published host.fenced (performance.now()). */
  fencedAt: number
  evacuators: RunningProcess[]
  startEvacuator(env?: Record<string, string>): Promise<RunningProcess>
  sim<T = unknown>(method: string, path: string, body?: unknown): Promise<T>
  /** Crash the host, force its compute service down and disable it, as the fencer does, then publish host.fenced. */
  failHost(host: string): Promise<HostFencedV1>
  finished(notificationId: string, timeoutMs?: number): Promise<RecoveryFinishedV1>
  stop(): Promise<void>
}

const observer: QueueSpec = {
  queue: 'test.evacuation-observer',
  bind: ['recovery.progress.v1', 'recovery.finished.v1', 'instance.evacuated.v1', 'instance.evacuation_failed.v1', 'alert.raised.v1'],
  prefetch: 1000,
  maxAttempts: 1,
  retryDelayMs: 0,
}

export const startEvacuationRig = async (o: { simEnv?: Record<string, string>; evacuatorEnv?: Record<string, string> } = {}): Promise<EvacuationRig> => {
  const id = `lazarus_evac_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  const processes: RunningProcess[] = []
  let bus: Bus | undefined
  // Should this process die first (a crash, a closed pipe), its children go with it.
  const killChildren = () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  }
  process.once('exit', killChildren)
  // A closed stdout (piped into `head`) must not strand the children either.
  process.stdout.on('error', () => process.exit(1))
  const stop = async () => {
    await bus?.close().catch(() => {})
    await Promise.all(processes.map((p) => p.stop()))
    process.removeListener('exit', killChildren)
    await Promise.all([db.drop(), vhost.drop()])
  }
  try {
    const simProc = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', {
      SIM_PORT: '0',
      SIM_HOSTS: '4',
      SIM_INSTANCES_PER_HOST: '0',
      SIM_REPORT_INTERVAL_MS: '500',
      SIM_SERVICE_DOWN_TIME_MS: '3000',
      ...o.simEnv,
    })
    processes.push(simProc)
    const simInfo = JSON.parse(await simProc.waitForLine(/"authUrl"/)) as { url: string; authUrl: string; credentials: Record<string, string> }
    const os = await createOpenStackClient({
      authUrl: simInfo.authUrl,
      username: 'admin',
      password: 'admin-pass',
      projectName: 'admin',
      userDomainName: 'Default',
      projectDomainName: 'Default',
    })
    const seen: Event[] = []
    const arrivedAt = new Map<Event, number>()
    bus = await createBus(vhost.url)
    await bus.subscribe(observer, LazarusEvent, async (e) => {
      arrivedAt.set(e, performance.now())
      seen.push(e)
      return { type: 'ACK' }
    })
    const evacuators: RunningProcess[] = []
    const sim = simClient(simInfo.url)
    const rig: EvacuationRig = {
      simUrl: simInfo.url,
      nova: os.nova,
      bus,
      seen,
      arrivedAt,
      fencedAt: 0,
      evacuators,
      sim,
      async startEvacuator(env = {}) {
        const p = startNode(`evacuator-${evacuators.length + 1}`, 'services/evacuator/dist/main.js', {
          AMQP_URL: vhost.url,
          DATABASE_URL: db.url,
          OS_AUTH_URL: simInfo.authUrl,
          OS_USERNAME: 'admin',
          OS_PASSWORD: 'admin-pass',
          OS_PROJECT_NAME: 'admin',
          OPS_PORT: '0',
          LOG_LEVEL: 'info',
          ...o.evacuatorEnv,
          ...env,
        })
        processes.push(p)
        evacuators.push(p)
        await p.waitForLine(/"msg":"evacuator ready"/, 60_000)
        return p
      },
      async failHost(host) {
        await sim('POST', `/sim/hosts/${host}/crash`)
        await os.nova.forceDownAndDisable(host, DEFAULT_SERVICE_DISABLE_REASON)
        const notificationId = randomUUID()
        const evt = makeEvent({
          type: 'host.fenced.v1',
          correlationId: notificationId,
          source: 'fencer',
          payload: {
            notificationId,
            host: { id: randomUUID(), name: host, type: 'COMPUTE', controlAttributes: '', reserved: false, onMaintenance: false },
            segment: { id: randomUUID(), name: 'segment-1', recoveryMethod: 'auto', serviceType: 'COMPUTE', enabled: true, quickEvacuateLevel: 2, reservedHosts: [] },
            level: 2,
            poweredOff: true,
            forcedDown: true,
            disabledReason: DEFAULT_SERVICE_DISABLE_REASON,
            timings: {},
          },
        })
        rig.fencedAt = performance.now()
        await bus!.publish(evt)
        return evt
      },
      finished: (notificationId, timeoutMs = 120_000) =>
        eventually(
          'recovery.finished',
          () => seen.find((e): e is RecoveryFinishedV1 => e.type === 'recovery.finished.v1' && e.payload.notificationId === notificationId),
          timeoutMs,
          20,
        ),
      stop,
    }
    return rig
  } catch (err) {
    await stop()
    throw err
  }
}
