import { startCloudSim, type CloudSim } from '@lazarus/cloud-sim'
import type { OpenStackClient, OpenStackClientOptions } from '@lazarus/openstack'
import { bootServers, computeCtl, deleteServers, loadBox, serversNamed, waitComputesUp, type BoxConfig } from '../real-nova/box.js'

/**
 * The two clouds the conformance suite runs against. Only what cannot go through Nova's API
 * differs: booting a server (test code; the sim has no scheduler to boot with), crashing a
 * compute and starting it again. Everything under test goes through packages/openstack.
 */
export interface Target {
  name: string
  /** Three compute hosts, all up at the start. */
  hosts: [string, string, string]
  options(): OpenStackClientOptions
  setup(): Promise<void>
  /** Servers of the default flavor (m1.fake) on `host`, in server group `group` when given. */
  boot(os: OpenStackClient, host: string, names: string[], opts?: { group?: string }): Promise<string[]>
  remove(os: OpenStackClient, ids: string[]): Promise<void>
  /** Leftovers of an interrupted run (servers named with the suite's prefix). */
  leftovers(os: OpenStackClient, prefix: string): Promise<string[]>
  /** nova-compute of `host` dies (SIGKILL on the box; the sim's host crashes). */
  crashCompute(host: string): Promise<void>
  /** nova-compute of `host` starts again (and reports). */
  startCompute(host: string): Promise<void>
  /** Nova's service_down_time, so the suite knows how long Nova believes a dead compute up. */
  serviceDownTimeMs: number
  teardown(): Promise<void>
}

/** Nova's rpc_response_timeout: how long a disable of a dead compute Nova believes up blocks. */
export const RPC_TIMEOUT_MS = 60_000

export const cloudSimTarget = (): Target => {
  let sim: CloudSim | undefined
  const hosts: [string, string, string] = ['compute1', 'compute2', 'compute3']
  const need = () => {
    if (!sim) throw new Error('cloud-sim not started')
    return sim
  }
  return {
    name: 'cloud-sim',
    hosts,
    serviceDownTimeMs: 20_000,
    options: () => ({ authUrl: need().authUrl, ...need().credentials }),
    async setup() {
      // The box's settings: report_interval 5 s, service_down_time 20 s, no aggregates, no servers.
      sim = await startCloudSim({
        hostNames: [...hosts],
        instancesPerHost: 0,
        aggregates: [],
        reportIntervalMs: 5000,
        serviceDownTimeMs: 20_000,
        evacuationDelayMs: 800,
        powerActionDelayMs: 300,
        disableBlocksWhileUpMs: RPC_TIMEOUT_MS,
      })
    },
    async boot(_os, host, names, o = {}) {
      return names.map((name) => need().createServer({ host, name, ...(o.group ? { serverGroup: o.group } : {}) }))
    },
    async remove(os, ids) {
      await Promise.all(ids.map((id) => os.computeRequest('DELETE', `/servers/${id}`)))
    },
    async leftovers() {
      return []
    },
    async crashCompute(host) {
      need().crashHost(host)
    },
    async startCompute(host) {
      need().restoreHost(host)
    },
    async teardown() {
      await sim?.close()
    },
  }
}

export const realNovaTarget = (box: BoxConfig): Target => {
  const [a, b, c] = box.computeHosts
  if (!a || !b || !c) throw new Error(`the box needs 3 computes, it has ${box.computeHosts.join(',')}`)
  return {
    name: `real Nova (${box.source})`,
    hosts: [a, b, c],
    serviceDownTimeMs: box.serviceDownTimeMs,
    options: () => box.client,
    setup: () => waitComputesUp(box),
    boot: (os, host, names, o = {}) => bootServers(os, box, { host, names, ...(o.group ? { group: o.group } : {}) }),
    remove: (os, ids) => deleteServers(os, ids),
    leftovers: (os, prefix) => serversNamed(os, prefix),
    async crashCompute(host) {
      await computeCtl(box, ['kill', host])
    },
    async startCompute(host) {
      await computeCtl(box, ['start', host])
    },
    async teardown() {},
  }
}

/** cloud-sim always; real Nova when the box (or OS_*) says where it is. */
export const conformanceTargets = (): { targets: Target[]; skipped: string | undefined } => {
  const loaded = loadBox()
  const targets = [cloudSimTarget()]
  if (loaded.box) targets.push(realNovaTarget(loaded.box))
  return { targets, skipped: loaded.box ? undefined : loaded.reason }
}
