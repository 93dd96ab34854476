import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { promisify } from 'node:util'
import { createOpenStackClient, NovaError, type OpenStackClient, type OpenStackClientOptions } from '@lazarus/openstack'
import { repoRoot } from '../support/processes.js'

/**
 * The real OpenStack of infra/openstack-box, as tests and benchmarks use it: where it is
 * (`/tmp/osbox/lazarus.env`, or OS_* in the environment), how to crash and restart one of its
 * fake computes, and a tiny boot helper. Lazarus itself never boots servers; only tests do.
 */

const run = promisify(execFile)

export interface BoxConfig {
  /** The OS_* settings Lazarus's services take, as environment variables. */
  env: Record<string, string>
  client: OpenStackClientOptions
  computeHosts: string[]
  /** infra/openstack-box/compute.sh, or OSBOX_COMPUTE_CTL. */
  computeCtl: string
  image: string
  flavor: string
  masakariUrl: string | undefined
  /** Nova's service_down_time on the box. */
  serviceDownTimeMs: number
  /** Where the settings came from, for messages. */
  source: string
}

export const DEFAULT_BOX_ENV = '/tmp/osbox/lazarus.env'
export const HOW_TO_ENABLE =
  'start the box with `bash infra/openstack-box/up.sh` (it writes /tmp/osbox/lazarus.env), ' +
  'or point OSBOX_ENV at such a file, or set OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME'

const parseEnvFile = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m) out[m[1]!] = m[2]!.trim().replace(/^(['"])(.*)\1$/, '$2')
  }
  return out
}

/**
 * The box's settings, or undefined (with the reason) when there is no real cloud to talk to.
 * OS_* in this process's environment win over the file. REAL_NOVA=0 turns the real target off.
 */
export const loadBox = (): { box: BoxConfig } | { box: undefined; reason: string } => {
  if (process.env['REAL_NOVA'] === '0') return { box: undefined, reason: 'REAL_NOVA=0' }
  const file = process.env['OSBOX_ENV'] ?? DEFAULT_BOX_ENV
  const fromFile = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : {}
  const merged: Record<string, string> = { ...fromFile }
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && /^(OS_|OSBOX_|NOVA_|MASAKARI_)/.test(k)) merged[k] = v
  const need = ['OS_AUTH_URL', 'OS_USERNAME', 'OS_PASSWORD', 'OS_PROJECT_NAME']
  const missing = need.filter((k) => !merged[k])
  if (missing.length > 0) {
    const reason = `no real OpenStack configured (${file} absent and ${missing.join(', ')} unset): ${HOW_TO_ENABLE}`
    // CI starts the box and sets REAL_NOVA=1: there a missing box is a failure, not a skip.
    if (process.env['REAL_NOVA'] === '1') throw new Error(`REAL_NOVA=1 but ${reason}`)
    return { box: undefined, reason }
  }
  const env: Record<string, string> = {}
  for (const k of [...need, 'OS_USER_DOMAIN_NAME', 'OS_PROJECT_DOMAIN_NAME', 'OS_REGION_NAME', 'OS_INTERFACE']) {
    if (merged[k]) env[k] = merged[k]!
  }
  const iface = merged['OS_INTERFACE']
  return {
    box: {
      env,
      client: {
        authUrl: merged['OS_AUTH_URL']!,
        username: merged['OS_USERNAME']!,
        password: merged['OS_PASSWORD']!,
        projectName: merged['OS_PROJECT_NAME']!,
        userDomainName: merged['OS_USER_DOMAIN_NAME'] ?? 'Default',
        projectDomainName: merged['OS_PROJECT_DOMAIN_NAME'] ?? 'Default',
        ...(merged['OS_REGION_NAME'] ? { regionName: merged['OS_REGION_NAME'] } : {}),
        ...(iface === 'public' || iface === 'internal' || iface === 'admin' ? { interface: iface } : {}),
      },
      computeHosts: (merged['OSBOX_COMPUTE_HOSTS'] ?? 'compute1,compute2,compute3').split(',').filter(Boolean),
      computeCtl: merged['OSBOX_COMPUTE_CTL'] ?? resolve(repoRoot, 'infra/openstack-box/compute.sh'),
      image: merged['OSBOX_IMAGE'] ?? 'cirros-fake',
      flavor: merged['OSBOX_FLAVOR'] ?? 'm1.fake',
      masakariUrl: merged['MASAKARI_URL'],
      serviceDownTimeMs: Number(merged['NOVA_SERVICE_DOWN_TIME'] ?? 60) * 1000,
      source: existsSync(file) ? file : 'environment',
    },
  }
}

export const connect = (box: BoxConfig, extra: Partial<OpenStackClientOptions> = {}): Promise<OpenStackClient> => createOpenStackClient({ ...box.client, ...extra })

/** `compute.sh ARGS...`; throws with its output when it fails. */
export const computeCtl = async (box: BoxConfig, args: string[], timeoutMs = 150_000): Promise<string> => {
  try {
    const { stdout } = await run('bash', [box.computeCtl, ...args], { timeout: timeoutMs, env: { ...process.env } })
    return stdout.trim()
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`compute.sh ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

/**
 * Every compute of the box up in Nova's eyes. A RabbitMQ restart by another suite makes
 * them look down for up to ~40 s, so failure scenarios begin here.
 */
export const waitComputesUp = async (box: BoxConfig, hosts = box.computeHosts, timeoutS = 120): Promise<void> => {
  for (const h of hosts) await computeCtl(box, ['wait', h, 'up', String(timeoutS)], (timeoutS + 30) * 1000)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const pollUntil = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await sleep(intervalMs)
  }
}

const refs = new WeakMap<OpenStackClient, Promise<{ imageRef: string; flavorRef: string }>>()

/** Image and flavor ids by name: the image through Nova's image proxy (up to 2.35), the flavor from /flavors. */
const bootRefs = (os: OpenStackClient, box: BoxConfig) => {
  let p = refs.get(os)
  if (!p) {
    p = (async () => {
      const images = await os.computeRequest('GET', `/images?name=${encodeURIComponent(box.image)}`, { microversion: '2.35' })
      const image = (images.body as { images?: { id: string; name: string }[] }).images?.find((i) => i.name === box.image)
      const flavors = await os.computeRequest('GET', '/flavors')
      const flavor = (flavors.body as { flavors?: { id: string; name: string }[] }).flavors?.find((f) => f.name === box.flavor)
      if (!image || !flavor) throw new Error(`the box has no image '${box.image}' or flavor '${box.flavor}' (rerun infra/openstack-box/up.sh)`)
      return { imageRef: image.id, flavorRef: flavor.id }
    })()
    p.catch(() => refs.delete(os))
    refs.set(os, p)
  }
  return p
}

/**
 * Boot servers pinned to `host` (2.74 `host`, no network: 2.37 `"networks":"none"`) and wait
 * until every one is ACTIVE there. Test code only.
 */
export const bootServers = async (
  os: OpenStackClient,
  box: BoxConfig,
  o: { host: string; names: string[]; metadata?: Record<string, string>; timeoutMs?: number /** A server group to join (the `group` scheduler hint). */; group?: string },
): Promise<string[]> => {
  const { imageRef, flavorRef } = await bootRefs(os, box)
  const deadline = Date.now() + (o.timeoutMs ?? 120_000)
  const bootOne = async (name: string): Promise<string> => {
    for (;;) {
      const res = await os.computeRequest('POST', '/servers', {
        microversion: '2.74',
        body: {
          server: { name, imageRef, flavorRef, networks: 'none', host: o.host, ...(o.metadata ? { metadata: o.metadata } : {}) },
          ...(o.group ? { 'os:scheduler_hints': { group: o.group } } : {}),
        },
      })
      if (res.status !== 202) throw new Error(`boot ${name} on ${o.host} → ${res.status} ${JSON.stringify(res.body)}`)
      const id = (res.body as { server: { id: string } }).server.id
      const s = await pollUntil(
        `server ${name} (${id}) ACTIVE on ${o.host}`,
        async () => {
          const s = await os.nova.getServer(id)
          return s.status === 'ACTIVE' || s.status === 'ERROR' ? s : undefined
        },
        Math.max(deadline - Date.now(), 1000),
        300,
      )
      if (s.status === 'ACTIVE' && s.host === o.host) return id
      // NoValidHost: a host whose compute just restarted can stay unschedulable in Placement
      // for a while (a stale disabled trait). Try again until the deadline.
      await deleteServers(os, [id])
      if (Date.now() > deadline) throw new Error(`server ${name} did not boot on ${o.host} (last: ${s.status} on ${s.host ?? 'no host'})`)
      await sleep(3000)
    }
  }
  return Promise.all(o.names.map(bootOne))
}

/** Delete servers and wait until Nova no longer knows them. Never throws: cleanup. */
export const deleteServers = async (os: OpenStackClient, ids: string[], timeoutMs = 60_000): Promise<void> => {
  await Promise.all(ids.map((id) => os.computeRequest('DELETE', `/servers/${id}`).catch(() => undefined)))
  await Promise.all(
    ids.map((id) =>
      pollUntil(
        `server ${id} deleted`,
        async () => {
          try {
            await os.nova.getServer(id)
            return undefined
          } catch (err) {
            if (err instanceof NovaError && err.status === 404) return true
            throw err
          }
        },
        timeoutMs,
        500,
      ).catch(() => undefined),
    ),
  )
}

/** Servers named with this prefix, on any host (leftovers of an interrupted run). */
export const serversNamed = async (os: OpenStackClient, prefix: string): Promise<string[]> => {
  const res = await os.computeRequest('GET', `/servers?all_tenants=1&name=${encodeURIComponent(`^${prefix}`)}`)
  const list = (res.body as { servers?: { id: string; name: string }[] }).servers ?? []
  return list.filter((s) => s.name.startsWith(prefix)).map((s) => s.id)
}

/**
 * Bring a crashed compute back as the box's README asks: start it, un-force it (Nova refuses
 * with 400 until the restarted compute has moved its `done` evacuation migrations to
 * `completed`), wait until Nova shows it up, and only then enable it. Enabled while Nova still
 * counts it down, its Placement provider would keep the COMPUTE_STATUS_DISABLED trait until
 * the compute's next periodic report (up to a minute: nova-api logs "Compute service on host
 * X is down. The COMPUTE_STATUS_DISABLED trait will be synchronized when the service is
 * restarted."), and the next boot pinned to it, or a plan, would find it unusable meanwhile.
 */
export const restoreCompute = async (os: OpenStackClient, box: BoxConfig, host: string, timeoutMs = 120_000): Promise<void> => {
  await computeCtl(box, ['start', host])
  const deadline = Date.now() + timeoutMs
  await pollUntil(
    `${host} un-forced`,
    async () => {
      const [svc] = await os.nova.listComputeServices({ host })
      if (!svc) throw new Error(`no compute service on ${host}`)
      if (svc.forcedDown) {
        try {
          await os.nova.setForcedDown(host, false)
        } catch (err) {
          if (err instanceof NovaError && err.status === 400) return undefined
          throw err
        }
      }
      return true
    },
    Math.max(deadline - Date.now(), 1000),
    1000,
  )
  await computeCtl(box, ['wait', host, 'up', String(Math.max(Math.round((deadline - Date.now()) / 1000), 30))])
  const [svc] = await os.nova.listComputeServices({ host })
  if (svc?.status === 'disabled') await os.nova.enableComputeService(host)
}

/**
 * The servers `ids` as a watcher sees them: where each is and whether it is ACTIVE with no
 * task running on it. From nova-api's list (`apiLook`) or from Nova's database (nova-db.ts).
 */
export type ServerLook = (ids: string[]) => Promise<Array<{ id: string; host: string | null; active: boolean }>>

/** One list request to nova-api per look, whatever the number of servers. */
export const apiLook =
  (os: OpenStackClient): ServerLook =>
  async (ids) => {
    const res = await os.computeRequest('GET', '/servers/detail?all_tenants=1')
    const list = (res.body as { servers?: Record<string, unknown>[] }).servers ?? []
    return list
      .filter((s) => ids.includes(String(s['id'])))
      .map((s) => ({
        id: String(s['id']),
        host: (s['OS-EXT-SRV-ATTR:host'] as string | null) ?? null,
        active: s['status'] === 'ACTIVE' && (s['OS-EXT-STS:task_state'] ?? null) === null,
      }))
  }

/**
 * Wait until every server is ACTIVE on a host other than `victim` (or any of several) with no
 * task, looking at them every `intervalMs` (through nova-api, or `watch`). Resolves with when the last one got there and
 * when each did (ms since the epoch).
 */
export const waitActiveElsewhere = async (
  watch: OpenStackClient | ServerLook,
  ids: string[],
  victim: string | readonly string[],
  timeoutMs: number,
  intervalMs = 100,
): Promise<{ lastAt: number; hosts: Record<string, string>; doneAt: Record<string, number> }> => {
  const victims = typeof victim === 'string' ? [victim] : victim
  // The watcher must not be what slows Nova down: it runs on the same two cores as the
  // rebuilds it measures.
  const look = typeof watch === 'function' ? watch : apiLook(watch)
  const doneAt = new Map<string, number>()
  const hosts: Record<string, string> = {}
  await pollUntil(
    `${ids.length} servers ACTIVE away from ${victims.join(', ')}`,
    async () => {
      const seen = await look(ids)
      const now = Date.now()
      for (const s of seen) {
        if (doneAt.has(s.id)) continue
        if (s.active && s.host !== null && !victims.includes(s.host)) {
          doneAt.set(s.id, now)
          hosts[s.id] = s.host
        }
      }
      return doneAt.size === ids.length ? true : undefined
    },
    timeoutMs,
    intervalMs,
  )
  return { lastAt: Math.max(...doneAt.values()), hosts, doneAt: Object.fromEntries(doneAt) }
}
