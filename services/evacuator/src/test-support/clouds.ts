import { startFakeCloud, type TestCloud } from './fake-cloud.js'

export interface CloudOptions {
  hosts: number
  instancesPerHost: number
  evacuationDelayMs: number
}

export type CloudFactory = (o: CloudOptions) => Promise<TestCloud>

/**
 * The clouds the service tests run against: the simulated cloud over HTTP (Keystone and
 * Nova, through the real OpenStack client) when `@lazarus/cloud-sim` is available, and
 * the in-memory Nova of test-support always.
 */
export const availableClouds = async (): Promise<[string, CloudFactory][]> => {
  const clouds: [string, CloudFactory][] = [['in-memory nova', async (o) => startFakeCloud(o)]]
  const sim = await loadCloudSim()
  if (sim) clouds.unshift(['cloud-sim over HTTP', sim])
  return clouds
}

const loadCloudSim = async (): Promise<CloudFactory | undefined> => {
  try {
    const simName = '@lazarus/cloud-sim'
    const osName = '@lazarus/openstack'
    const simModule = (await import(/* @vite-ignore */ simName)) as Record<string, unknown>
    const osModule = (await import(/* @vite-ignore */ osName)) as Record<string, unknown>
    const startCloudSim = simModule['startCloudSim'] as ((o: unknown) => Promise<SimHandle>) | undefined
    const createOpenStackClient = osModule['createOpenStackClient'] as ((o: unknown) => Promise<{ nova: TestCloud['nova'] }>) | undefined
    if (typeof startCloudSim !== 'function' || typeof createOpenStackClient !== 'function') return undefined
    return async (o) => {
      const sim = await startCloudSim({ ...o, reportIntervalMs: 200, serviceDownTimeMs: 3000 })
      const os = await createOpenStackClient({ authUrl: sim.authUrl, ...sim.credentials })
      return {
        nova: os.nova,
        hostNames: () => sim.hostNames(),
        crashHost: (h) => sim.crashHost(h),
        createServer: (c) => sim.createServer(c),
        records: () => sim.records(),
        servers: () => sim.servers(),
        close: () => sim.close(),
      }
    }
  } catch {
    return undefined
  }
}

interface SimHandle {
  authUrl: string
  credentials: Record<string, string>
  hostNames(): string[]
  crashHost(h: string): void
  createServer: TestCloud['createServer']
  records: TestCloud['records']
  servers: TestCloud['servers']
  close(): Promise<void>
}
