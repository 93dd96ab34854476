import * as z from 'zod'
import { startCloudSim } from './cloud-sim.js'
import type { CloudSimOptions } from './options.js'

/**
 * `node packages/cloud-sim/dist/main.js`: options from SIM_* variables; prints one JSON line
 * `{"url", "authUrl", ...}` on stdout once listening; stops on SIGTERM / SIGINT.
 */
const int = z.coerce.number().int().min(0).optional()
const Env = z.object({
  SIM_PORT: int,
  SIM_HOST: z.string().optional(),
  SIM_HOSTS: int,
  SIM_HOST_NAMES: z.string().optional(),
  SIM_INSTANCES_PER_HOST: int,
  SIM_EVACUATION_DELAY_MS: int,
  SIM_REPORT_INTERVAL_MS: int,
  SIM_SERVICE_DOWN_TIME_MS: int,
  SIM_RESOURCE_SYNC_INTERVAL_MS: int,
  SIM_POWER_OFF_DELAY_MS: int,
  SIM_DISABLE_BLOCKS_WHILE_UP_MS: int,
  SIM_POWER_ACTION_DELAY_MS: int,
  SIM_MAX_MICROVERSION: z
    .string()
    .regex(/^2\.\d+$/)
    .optional(),
  SIM_MAX_LIMIT: int,
  SIM_TOKEN_TTL_MS: int,
  SIM_HOST_VCPUS: int,
  SIM_HOST_MEMORY_MB: int,
  SIM_HOST_DISK_GB: int,
  SIM_USERNAME: z.string().optional(),
  SIM_PASSWORD: z.string().optional(),
  SIM_PROJECT_NAME: z.string().optional(),
})

const present = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith('SIM_') && v !== ''))
const parsed = Env.safeParse(present)
if (!parsed.success) {
  for (const issue of parsed.error.issues) process.stderr.write(`cloud-sim: ${String(issue.path[0])}: ${issue.message}\n`)
  process.exit(2)
}
const e = parsed.data
const opts: CloudSimOptions = {}
if (e.SIM_PORT !== undefined) opts.port = e.SIM_PORT
if (e.SIM_HOST !== undefined) opts.host = e.SIM_HOST
if (e.SIM_HOSTS !== undefined) opts.hosts = e.SIM_HOSTS
if (e.SIM_HOST_NAMES !== undefined)
  opts.hostNames = e.SIM_HOST_NAMES.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
if (e.SIM_INSTANCES_PER_HOST !== undefined) opts.instancesPerHost = e.SIM_INSTANCES_PER_HOST
if (e.SIM_EVACUATION_DELAY_MS !== undefined) opts.evacuationDelayMs = e.SIM_EVACUATION_DELAY_MS
if (e.SIM_REPORT_INTERVAL_MS !== undefined) opts.reportIntervalMs = e.SIM_REPORT_INTERVAL_MS
if (e.SIM_SERVICE_DOWN_TIME_MS !== undefined) opts.serviceDownTimeMs = e.SIM_SERVICE_DOWN_TIME_MS
if (e.SIM_RESOURCE_SYNC_INTERVAL_MS !== undefined) opts.resourceSyncIntervalMs = e.SIM_RESOURCE_SYNC_INTERVAL_MS
if (e.SIM_POWER_OFF_DELAY_MS !== undefined) opts.powerOffDelayMs = e.SIM_POWER_OFF_DELAY_MS
if (e.SIM_DISABLE_BLOCKS_WHILE_UP_MS !== undefined) opts.disableBlocksWhileUpMs = e.SIM_DISABLE_BLOCKS_WHILE_UP_MS
if (e.SIM_POWER_ACTION_DELAY_MS !== undefined) opts.powerActionDelayMs = e.SIM_POWER_ACTION_DELAY_MS
if (e.SIM_MAX_MICROVERSION !== undefined) opts.maxMicroversion = e.SIM_MAX_MICROVERSION
if (e.SIM_MAX_LIMIT !== undefined) opts.maxLimit = e.SIM_MAX_LIMIT
if (e.SIM_TOKEN_TTL_MS !== undefined) opts.tokenTtlMs = e.SIM_TOKEN_TTL_MS
const resources: NonNullable<CloudSimOptions['hostResources']> = {}
if (e.SIM_HOST_VCPUS !== undefined) resources.vcpus = e.SIM_HOST_VCPUS
if (e.SIM_HOST_MEMORY_MB !== undefined) resources.memoryMb = e.SIM_HOST_MEMORY_MB
if (e.SIM_HOST_DISK_GB !== undefined) resources.diskGb = e.SIM_HOST_DISK_GB
if (Object.keys(resources).length > 0) opts.hostResources = resources
if (e.SIM_USERNAME !== undefined) opts.username = e.SIM_USERNAME
if (e.SIM_PASSWORD !== undefined) opts.password = e.SIM_PASSWORD
if (e.SIM_PROJECT_NAME !== undefined) opts.projectName = e.SIM_PROJECT_NAME

const sim = await startCloudSim(opts)
process.stdout.write(`${JSON.stringify({ url: sim.url, authUrl: sim.authUrl, hosts: sim.hostNames(), credentials: sim.credentials })}\n`)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  const bound = setTimeout(() => process.exit(1), 5000)
  bound.unref()
  sim.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
