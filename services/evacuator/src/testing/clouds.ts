import { startCloudSim } from '@lazarus/cloud-sim'
import { createOpenStackClient, type NovaClient } from '@lazarus/openstack'

export interface CloudOptions {
  hosts: number
  instancesPerHost: number
  evacuationDelayMs: number
}

/** The simulated cloud over HTTP (Keystone and Nova through the real OpenStack client). */
export interface TestCloud {
  nova: NovaClient
  hostNames(): string[]
  crashHost(host: string): void
  createServer(o: { host: string; name?: string; metadata?: Record<string, string>; vmState?: 'active' | 'stopped' | 'error' }): string
  records(): { evacuations: { serverId: string; from: string; to: string; at: string }[] }
  /** The next `count` Nova requests whose path matches fail with `status` (cloud-sim's fault injection). */
  failNova(f: { status: number; count?: number; pathPattern?: string }): void
  servers(): { id: string; name: string; host: string | null; status: string; vmState: string; taskState: string | null; locked: boolean; metadata: Record<string, string> }[]
  close(): Promise<void>
}

export type CloudFactory = (o: CloudOptions) => Promise<TestCloud>

export const startTestCloud: CloudFactory = async (o) => {
  const sim = await startCloudSim({ ...o, reportIntervalMs: 200, serviceDownTimeMs: 3000 })
  const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
  return {
    nova: os.nova,
    hostNames: () => sim.hostNames(),
    crashHost: (h) => sim.crashHost(h),
    createServer: (c) => sim.createServer(c),
    records: () => sim.records(),
    failNova: (f) => sim.setNovaFault(f),
    servers: () => sim.servers() as ReturnType<TestCloud['servers']>,
    close: () => sim.close(),
  }
}

/** The clouds the service tests run against. */
export const availableClouds = async (): Promise<[string, CloudFactory][]> => [['cloud-sim over HTTP', startTestCloud]]
