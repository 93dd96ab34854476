import { mkdirSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../support/processes.js'
import { awaitFinal, checkInvariants, log, rng, startRabbitCluster, startSystem, type FailedHost, type RabbitCluster, type SimHost, type SimServer, type System } from './driver.js'

/**
 * Whole-system chaos: a 3-node RabbitMQ cluster, PostgreSQL, cloud-sim and two replicas of
 * every service as processes. Hosts fail (crash + COMPUTE_HOST notification) while faults
 * hit at random points: kill -9 of a replica (restarted a little later), stop/start of a
 * RabbitMQ node, every database connection terminated (pg_terminate_backend: the same
 * reconnect path as a PostgreSQL restart, without restarting the machine's shared server),
 * a BMC that hangs, Nova answering 409/500 for a while. Then the invariants of
 * driver.ts#checkInvariants over cloud-sim's records and the api.
 *
 *   CHAOS_SEED=<n>   replay a run (the seed is printed at the start)
 *   CHAOS_LONG=1     the long form (10 minutes of faults instead of 90 s)
 *
 * Process logs of the run go to test-output/chaos-<seed>/. Needs the built services.
 */
const LONG = process.env['CHAOS_LONG'] === '1'
const SEED = Number(process.env['CHAOS_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
const FAULT_PHASE_MS = Number(process.env['CHAOS_DURATION_MS'] ?? (LONG ? 600_000 : 90_000))
const HOSTS = LONG ? 40 : 12
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

describe(`chaos (seed ${SEED}, ${LONG ? 'long' : 'short'} form)`, () => {
  let rabbit: RabbitCluster
  let sys: System
  let outDir: string

  beforeAll(async () => {
    log(`CHAOS_SEED=${SEED} ${LONG ? 'CHAOS_LONG=1 ' : ''}(fault phase ${FAULT_PHASE_MS} ms, ${HOSTS} hosts)`)
    outDir = resolve(repoRoot, 'test-output', `chaos-${SEED}`)
    mkdirSync(outDir, { recursive: true })
    rabbit = await startRabbitCluster({ name: 'lzchaos' })
    log(`3-node RabbitMQ cluster up in ${rabbit.upMs} ms`)
    sys = await startSystem({
      rabbit,
      replicas: { api: 2, detector: 2, fencer: 2, evacuator: 2 },
      simEnv: { SIM_HOSTS: String(HOSTS), SIM_INSTANCES_PER_HOST: '3', SIM_EVACUATION_DELAY_MS: '500' },
    })
    await sys.registerSegment('chaos')
  }, 480_000)

  afterAll(async () => {
    if (sys) {
      for (const r of sys.replicas) {
        for (const [k, p] of r.history.entries()) writeFileSync(resolve(outDir, `${r.svc}-${r.index}.${k}.log`), `${p.lines.join('\n')}\n`)
      }
    }
    await sys?.stop()
    await rabbit?.down()
  }, 180_000)

  it(
    'keeps every promise while parts of itself die',
    async () => {
      const rand = rng(SEED)
      const failed: FailedHost[] = []
      const faults: Record<string, number> = {}
      const count = (k: string) => (faults[k] = (faults[k] ?? 0) + 1)
      const pending = new Set<Promise<unknown>>()
      const track = (p: Promise<unknown>, what: string) => {
        const q = p.catch((err: unknown) => log(`${what} failed: ${String(err)}`)).finally(() => pending.delete(q))
        pending.add(q)
      }
      const end = Date.now() + FAULT_PHASE_MS
      let nodeDown: number | undefined

      // ---- host failures
      const failHosts = async () => {
        while (Date.now() < end) {
          await sleep(rand.int(5000, 11_000))
          if (Date.now() >= end) break
          const { hosts } = await sys.sim<{ hosts: SimHost[] }>('GET', '/sim/hosts')
          const candidates = hosts.filter((h) => h.computeAlive && h.service.state === 'up' && !failed.some((f) => f.host === h.name))
          // Keep a few hosts alive to evacuate to.
          if (candidates.length <= 3) continue
          const host = rand.pick(candidates).name
          const bmcHangs = rand.chance(0.15)
          if (bmcHangs) {
            await sys.sim('PUT', `/sim/hosts/${host}/bmc-fault`, { fault: 'hang' })
            count('bmc hang')
          }
          const { servers } = await sys.sim<{ servers: SimServer[] }>('GET', '/sim/servers')
          const entry: FailedHost = { host, notificationId: undefined, bmcHangs, instances: servers.filter((s) => s.host === host).map((s) => s.id) }
          failed.push(entry)
          await sys.sim('POST', `/sim/hosts/${host}/crash`)
          log(`host ${host} fails (${entry.instances.length} instances${bmcHangs ? ', BMC hangs' : ''})`)
          track(
            sys.notify(host).then((id) => (entry.notificationId = id)),
            `notification for ${host}`,
          )
        }
      }

      // ---- faults
      const inject = async () => {
        while (Date.now() < end) {
          await sleep(rand.int(3000, 8000))
          if (Date.now() >= end) break
          const kind = rand.pick(['kill', 'kill', 'rabbit', 'db', 'nova'] as const)
          if (kind === 'kill') {
            const alive = sys.replicas.filter((r) => r.alive() && !r.starting)
            if (alive.length === 0) continue
            const r = rand.pick(alive)
            const downMs = rand.int(1000, 8000)
            log(`kill -9 ${r.svc}#${r.index} (pid ${r.proc?.child.pid}); back in ${downMs} ms`)
            sys.kill9(r, downMs)
            count('kill -9')
          } else if (kind === 'rabbit') {
            if (nodeDown !== undefined) continue
            const node = rand.int(1, rabbit.size)
            const downMs = rand.int(4000, 15_000)
            nodeDown = node
            count('rabbitmq node stop')
            log(`RabbitMQ node ${node} stops; back in ${downMs} ms`)
            track(
              (async () => {
                await rabbit.stopNode(node)
                await sleep(downMs)
                const ms = await rabbit.startNode(node)
                log(`RabbitMQ node ${node} back (start took ${ms} ms)`)
                nodeDown = undefined
              })(),
              `stop/start of node ${node}`,
            )
          } else if (kind === 'db') {
            const n = await sys.terminateDbConnections()
            count('db connections terminated')
            log(`pg_terminate_backend: ${n} connections`)
          } else {
            const status = rand.pick([409, 500] as const)
            const pathPattern = rand.pick(['/action', '/os-services', '/servers'])
            const n = rand.int(2, 8)
            const forMs = rand.int(2000, 8000)
            await sys.sim('PUT', '/sim/nova-fault', { status, count: n, pathPattern })
            count(`nova ${status}`)
            log(`Nova answers ${status} to the next ${n} requests matching ${pathPattern} for ${forMs} ms`)
            track(
              sleep(forMs).then(() => sys.sim('PUT', '/sim/nova-fault', null)),
              'nova fault reset',
            )
          }
        }
      }

      const t0 = Date.now()
      await Promise.all([failHosts(), inject()])
      log(`fault phase over after ${Date.now() - t0} ms; restoring`)
      while (pending.size > 0) await Promise.allSettled([...pending])
      await sys.sim('PUT', '/sim/nova-fault', null)
      for (const i of Array.from({ length: rabbit.size }, (_, k) => k + 1)) if (!rabbit.isRunning(i)) await rabbit.startNode(i)
      await sys.restoreAll(120_000)

      const ids = failed.map((f) => f.notificationId).filter((id): id is string => id !== undefined)
      await awaitFinal(sys, ids, LONG ? 300_000 : 150_000)
      // Late duplicates or stragglers would show within a few sweeps.
      await sleep(5000)
      const report = await checkInvariants(sys, failed)
      const summary = {
        seed: SEED,
        form: LONG ? 'long' : 'short',
        faultPhaseMs: FAULT_PHASE_MS,
        hostsFailed: failed.length,
        hostsWithHungBmc: failed.filter((f) => f.bmcHangs).length,
        faultsInjected: Object.values(faults).reduce((a, b) => a + b, 0),
        faults,
        notifications: report.notifications,
        recoveriesCompleted: report.recoveriesCompleted,
        evacuations: report.evacuations,
        invariantViolations: report.violations.length,
        // Replicas that died on their own (restarted by the supervisor, as systemd would).
        crashes: Object.fromEntries(sys.replicas.filter((r) => r.crashes.length > 0).map((r) => [`${r.svc}#${r.index}`, r.crashes.length])),
        totalMs: Date.now() - t0,
      }
      log(`summary ${JSON.stringify(summary)}`)
      writeFileSync(resolve(outDir, 'summary.json'), `${JSON.stringify({ ...summary, violations: report.violations }, null, 2)}\n`)
      for (const r of sys.replicas) for (const c of r.crashes) log(`CRASH ${r.svc}#${r.index}: ${c.split('\n').slice(0, 6).join(' | ')}`)
      for (const v of report.violations) log(`VIOLATION ${v}`)
      expect(failed.length).toBeGreaterThan(0)
      expect(report.violations).toEqual([])
    },
    LONG ? 3_600_000 : 900_000,
  )
})
