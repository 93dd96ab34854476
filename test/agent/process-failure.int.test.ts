import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiService, type ApiService } from '@lazarus/api'
import { createInProcessBus, type Bus } from '@lazarus/bus'
import { openDb, type Db } from '@lazarus/db'
import { createLogger } from '@lazarus/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../support/infra.js'
import { eventually, startNode, type RunningProcess } from '../support/processes.js'

/*
 * lazarus-agent (the built binary) watching a process of its own: a copy of `sleep` under
 * a name of this run, started and killed here. Its PROCESS notifications go to the api,
 * run in this process on PostgreSQL and served over HTTP with API keys.
 */

const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222'
const INTERVAL_MS = 300
const FAILURE_AFTER_MS = 1200
const run = randomBytes(3).toString('hex')
// Two watched processes, at most 15 characters each (the kernel's comm).
const processName = `lzp${run}a`
const otherName = `lzp${run}b`
const hostName = `agent-${run}`
const ADMIN = `admin-${run}`
const MONITOR = `monitor-${run}`

interface Notification {
  notification_uuid: string
  type: string
  status: string
  hostname: string
  payload: Record<string, unknown>
  generated_time: string
}

let dir: string
let database: { url: string; drop(): Promise<void> }
let db: Db
let bus: Bus
let api: ApiService
let server: { port: number; close(): Promise<void> }
let port: number
let agent: RunningProcess | undefined
const watched = new Set<ChildProcess>()
const byName = new Map<string, ChildProcess>()

const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'X-Auth-Token': ADMIN, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T }
}

const processNotifications = async (name = processName): Promise<Notification[]> => {
  const r = await call<{ notifications: Notification[] }>('GET', '/v1/notifications?type=PROCESS&sort_dir=asc')
  expect(r.status).toBe(200)
  return r.body.notifications.filter((n) => n.hostname === hostName && n.payload['process_name'] === name)
}

const startWatched = async (name = processName): Promise<ChildProcess> => {
  const child = spawn(join(dir, name), ['600'], { stdio: 'ignore' })
  byName.set(name, child)
  watched.add(child)
  child.once('exit', () => watched.delete(child))
  await new Promise((ok, fail) => {
    child.once('spawn', ok)
    child.once('error', fail)
  })
  return child
}

const kill = async (child: ChildProcess) => {
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await exited
}

const outcomeLines = (pattern: RegExp) => agent!.lines.filter((l) => pattern.test(l))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const listen = async () => {
  server = await api.listen(port)
  port = server.port
}

describe('lazarus-agent process failure reports', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lazarus-agent-'))
    await copyFile('/bin/sleep', join(dir, processName))
    await copyFile('/bin/sleep', join(dir, otherName))
    database = await createTestDatabase(`lazarus_agent_${run}`)
    db = await openDb(database.url)
    bus = createInProcessBus()
    api = await createApiService({
      db,
      bus,
      log: createLogger('api', process.env['LOG_LEVEL'] ?? 'silent'),
      config: { apiKeys: `${ADMIN}:admin,${MONITOR}:monitor` },
    })
    await api.start()
    port = 0
    await listen()
    const seg = await call<{ segment: { uuid: string } }>('POST', '/v1/segments', { segment: { name: `agent-${run}`, recovery_method: 'auto', service_type: 'COMPUTE' } })
    expect(seg.status).toBe(201)
    const host = await call('POST', `/v1/segments/${seg.body.segment.uuid}/hosts`, { host: { name: hostName, type: 'COMPUTE', control_attributes: '-' } })
    expect(host.status).toBe(201)
  }, 60_000)

  afterAll(async () => {
    await agent?.stop()
    for (const c of watched) c.kill('SIGKILL')
    await server?.close()
    await api?.stop()
    await bus?.close()
    await db?.close()
    await database?.drop()
    if (dir) await rm(dir, { recursive: true, force: true })
  }, 60_000)

  it('reports STOPPED after the process is gone for PROCESS_FAILURE_AFTER_MS, STARTED when it is back, and nothing for a quick restart', async () => {
    let proc = await startWatched()
    await startWatched(otherName)
    agent = startNode('agent', 'services/agent/dist/main.js', {
      NATS_URL,
      HOST_NAME: hostName,
      SUBJECT_PREFIX: `test.${run}.heartbeat`,
      HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS),
      PROCESS_NAMES: `${processName},${otherName}`,
      API_URL: `http://127.0.0.1:${port}`,
      API_TOKEN: MONITOR,
      PROCESS_FAILURE_AFTER_MS: String(FAILURE_AFTER_MS),
      REPORT_RETRY_MS: '200',
      LOG_LEVEL: 'info',
    })
    await agent.waitForLine(/agent heartbeating/, 20_000)
    await sleep(2 * INTERVAL_MS)

    // A restart shorter than the threshold is not a failure.
    await kill(proc)
    proc = await startWatched()
    await sleep(FAILURE_AFTER_MS + 3 * INTERVAL_MS)
    expect(await processNotifications()).toEqual([])

    await kill(proc)
    const killedAt = Date.now()
    const [stopped] = await eventually(
      'the STOPPED notification',
      async () => {
        const ns = await processNotifications()
        return ns.length > 0 ? ns : undefined
      },
      15_000,
      100,
    )
    const tookMs = Date.now() - killedAt
    expect(stopped).toMatchObject({ type: 'PROCESS', hostname: hostName, payload: { process_name: processName, event: 'STOPPED' } })
    expect(tookMs).toBeGreaterThanOrEqual(FAILURE_AFTER_MS - INTERVAL_MS)
    expect(Math.abs(new Date(stopped!.generated_time).getTime() - killedAt)).toBeLessThan(2 * INTERVAL_MS + 1000)

    proc = await startWatched()
    const all = await eventually(
      'the STARTED notification',
      async () => {
        const ns = await processNotifications()
        return ns.length > 1 ? ns : undefined
      },
      15_000,
      100,
    )
    expect(all.map((n) => n.payload)).toEqual([
      { process_name: processName, event: 'STOPPED' },
      { process_name: processName, event: 'STARTED' },
    ])
  }, 60_000)

  it('stops at once when the api says the notification is a duplicate (409), and retries while the api is unreachable', async () => {
    // The same STOPPED again within the api's duplicate window: 409, one attempt, no retry.
    await kill(byName.get(processName)!)
    await agent!.waitForLine(/already has this process notification \(409\)/, 15_000)
    const retried = (name: string) => outcomeLines(/sending the process notification failed; retrying/).filter((l) => (JSON.parse(l) as { process?: string }).process === name)
    expect(retried(processName)).toHaveLength(0)
    expect(await processNotifications()).toHaveLength(2)

    // The api goes away; the other process dies; its report is retried until the api is back.
    await server.close()
    await kill(byName.get(otherName)!)
    await eventually('a retry', () => (retried(otherName).length > 0 ? true : undefined), 15_000)
    await sleep(500)
    await listen()
    const [n] = await eventually(
      'the STOPPED sent once the api is back',
      async () => {
        const got = await processNotifications(otherName)
        return got.length > 0 ? got : undefined
      },
      20_000,
      200,
    )
    expect(n!.payload).toEqual({ process_name: otherName, event: 'STOPPED' })
    expect(await processNotifications(otherName)).toHaveLength(1)
  }, 60_000)
})
