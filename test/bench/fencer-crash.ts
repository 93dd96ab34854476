/**
 * What a crashed fencer costs a recovery in flight: a host fails (level 2), cloud-sim's BMC
 * takes `--power-off-delay` ms (default 1000) to report it off, and the fencer that claimed
 * the fence gets `kill -9` as soon as the BMC has seen its power-off (it is confirming it).
 * Three cases, interleaved run by run so that each sees the same noise:
 *   - `no crash`: one fencer, nothing killed (the baseline);
 *   - `survivor`: two fencers, the owner of the fence killed; the other finishes it;
 *   - `restart`: the only fencer killed and started again `--restart-after` ms later
 *     (default 3000).
 * The fence lease stays at its default (FENCE_LEASE_MS 30 s): the fence is taken over because
 * its owner is known dead in fencer_workers (WORKER_DEAD_AFTER_MS, 2 s), not because the
 * lease lapsed. Reports each case's median wall time (host.failed published → host.fenced
 * received), the spread, and what the crash added over the baseline's median (for
 * `restart`, beyond the time no fencer was ready: from the kill until the new process said
 * it started). Target: a crash adds ≤ 3 s. Every run also checks one power-off at the BMC,
 * one force-down and one host.fenced.
 *
 *   npx tsc -b services/fencer packages/cloud-sim && node --import tsx test/bench/fencer-crash.ts --runs 5
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createRabbitBus, type Bus } from '@lazarus/bus'
import { LazarusEvent, topology, type QueueSpec } from '@lazarus/contracts'
import { hostFailedEvent, simRedfishAttributes, testBmcSecretDir } from '../../services/fencer/src/testing/host-failed.js'
import { simClient } from '../support/http.js'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { type CrashCase, printCrashTable, runInterleaved } from './crash-report.js'
import { eventually, type RunningProcess, startNode } from '../support/processes.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'power-off-delay': { type: 'string', default: '1000' },
    'restart-after': { type: 'string', default: '3000' },
  },
})
const runs = Number(values.runs)
const powerOffDelay = Number(values['power-off-delay'])
const restartAfter = Number(values['restart-after'])
type Case = CrashCase
const CASES: Case[] = ['no crash', 'survivor', 'restart']
const HOST = 'compute3'

const observer: QueueSpec = { queue: 'bench.fencer-crash-observer', bind: ['host.fenced.v1', 'host.fence_failed.v1'], prefetch: 100, maxAttempts: 1, retryDelayMs: 0 }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface SimRecords {
  powerActions: { host: string; action: string }[]
  forcedDown: { host: string; forcedDown: boolean }[]
}

const runOnce = async (c: Case): Promise<{ wall: number; down: number }> => {
  const id = `lazarus_fencer_crash_${process.pid}_${randomBytes(3).toString('hex')}`
  const [db, vhost] = await Promise.all([createTestDatabase(id), createTestVhost(id)])
  const processes: RunningProcess[] = []
  let bus: Bus | undefined
  try {
    const simProc = startNode('cloud-sim', 'packages/cloud-sim/dist/main.js', {
      SIM_PORT: '0',
      SIM_HOSTS: '4',
      SIM_INSTANCES_PER_HOST: '1',
      SIM_REPORT_INTERVAL_MS: '200',
      SIM_SERVICE_DOWN_TIME_MS: '1500',
      SIM_POWER_OFF_DELAY_MS: String(powerOffDelay),
    })
    processes.push(simProc)
    const info = JSON.parse(await simProc.waitForLine(/"authUrl"/)) as { url: string; authUrl: string; credentials: { username: string; password: string; projectName: string } }
    const sim = simClient(info.url)
    const startFencer = async (name: string): Promise<RunningProcess> => {
      const p = startNode(name, 'services/fencer/dist/main.js', {
        AMQP_URL: vhost.url,
        DATABASE_URL: db.url,
        OS_AUTH_URL: info.authUrl,
        OS_USERNAME: info.credentials.username,
        OS_PASSWORD: info.credentials.password,
        OS_PROJECT_NAME: info.credentials.projectName,
        OPS_PORT: '0',
        LOG_LEVEL: 'info',
        BMC_SECRET_DIR: testBmcSecretDir(),
        FENCE_CHECK_INTERVAL_MS: '200',
        NOVA_DOWN_CHECK_INTERVAL_MS: '200',
      })
      processes.push(p)
      await p.waitForLine(/"msg":"fencer started"/, 60_000)
      return p
    }
    const arrived = new Map<string, number>()
    const outcomes: string[] = []
    bus = await createRabbitBus({ url: vhost.url, queues: [...Object.values(topology), observer], connectionName: 'fencer-crash bench' })
    await bus.subscribe(observer, LazarusEvent, async (event) => {
      if (event.type === 'host.fenced.v1' || event.type === 'host.fence_failed.v1') {
        outcomes.push(event.type)
        if (!arrived.has(event.payload.notificationId)) arrived.set(event.payload.notificationId, performance.now())
      }
      return { type: 'ACK' }
    })
    const fencers = [await startFencer('fencer-1')]
    if (c === 'survivor') fencers.push(await startFencer('fencer-2'))
    await sim('POST', `/sim/hosts/${HOST}/crash`)
    const evt = hostFailedEvent({ host: HOST, level: 2, controlAttributes: simRedfishAttributes(info.url, HOST, info.credentials) })
    const { notificationId } = evt.payload
    const published = performance.now()
    await bus.publish(evt)
    let down = 0
    if (c !== 'no crash') {
      const owner = await eventually('the owner', () => fencers.find((f) => f.lines.some((l) => l.includes('"msg":"fence claimed"') && l.includes(notificationId))), 15_000, 5)
      await eventually(
        'the power-off at the BMC',
        async () => ((await sim<SimRecords>('GET', '/sim/records')).powerActions.some((a) => a.host === HOST && a.action === 'ForceOff') ? true : undefined),
        15_000,
        5,
      )
      if (arrived.has(notificationId)) throw new Error('fenced before the kill: raise --power-off-delay')
      owner.child.kill('SIGKILL')
      const killedAt = performance.now()
      await owner.stop()
      if (c === 'restart') {
        await sleep(restartAfter)
        await startFencer('fencer-1b')
        down = performance.now() - killedAt
      }
    }
    await eventually('host.fenced', () => arrived.get(notificationId), 120_000, 5)
    const wall = (arrived.get(notificationId) as number) - published
    await sleep(500)
    const r = await sim<SimRecords>('GET', '/sim/records')
    const offs = r.powerActions.filter((a) => a.host === HOST && a.action === 'ForceOff').length
    const forced = r.forcedDown.filter((f) => f.host === HOST && f.forcedDown).length
    if (offs !== 1 || forced !== 1 || outcomes.join() !== 'host.fenced.v1')
      throw new Error(`not exactly once: ${offs} power-offs, ${forced} force-downs, outcomes ${outcomes.join() || 'none'}`)
    return { wall, down }
  } finally {
    await bus?.close().catch(() => undefined)
    await Promise.all(processes.map((p) => p.stop()))
    await Promise.all([db.drop(), vhost.drop()])
  }
}

const results = await runInterleaved(CASES, runs, runOnce)
printCrashTable(
  results,
  CASES,
  `level 2, BMC power-off delay ${powerOffDelay} ms, kill -9 of the owner once the BMC has its power-off, restart after ${restartAfter} ms; ${runs} runs, interleaved`,
  'fencer was ready',
)
