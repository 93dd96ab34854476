import { openStackLayout, openStackSettings } from '@lazarus/openstack'
import { commonLayout, mergeLayouts, opsSettings, setting, type ServiceSettings } from '@lazarus/runtime'
import * as z from 'zod'
import { defaultFencerConfig as d, type FencerConfig } from './fencer-config.js'

/**
 * The fencer's settings (env names: the keys in UPPER_SNAKE_CASE). OpenStack credentials use
 * the standard variable names (OS_AUTH_URL, OS_USERNAME, ...).
 */
export const FencerEnv = z.object({
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/vhost' }).min(1).describe('RabbitMQ, e.g. amqp://user:pass@rabbit:5672/vhost'),
  databaseUrl: z.string().optional().describe('postgres://… in production; a path or `memory:` for PGlite (default: in memory).'),
  dbAutoMigrate: setting
    .bool(true)
    .describe('Apply pending database migrations at start (true), or only check the schema and refuse to start when one is missing (false: run `lazarus db migrate` first).'),
  ...openStackSettings,
  fenceCheckIntervalMs: setting.ms(d.fenceCheckIntervalMs).describe('Pause between power-status checks after a power off.'),
  fenceCheckMaxCount: setting.int(d.fenceCheckMaxCount, 1).describe('Power-status checks before a host that does not report off fails the fence.'),
  novaDownCheckIntervalMs: setting.ms(d.novaDownCheckIntervalMs).describe('Pause between Nova service-state checks.'),
  novaDownMaxWaitMs: setting.ms(d.novaDownMaxWaitMs).describe("Level 3: how long to wait for Nova's heartbeat timeout to mark the service down."),
  forceDownConfirmTimeoutMs: setting.ms(d.forceDownConfirmTimeoutMs).describe('Levels 1 and 2: how long Nova may take to show the forced-down service as down.'),
  powerRequestTimeoutMs: setting.int(d.powerRequestTimeoutMs, 1).describe('Deadline of each request to a BMC or power device.'),
  fenceLeaseMs: setting.int(d.leaseMs, 1000).describe('A fence claim not renewed for this long may be taken over by another replica.'),
  workerBeatMs: setting.int(d.workerBeatMs, 50).describe('How often each fencer process tells the others, through the database, that it is alive.'),
  workerDeadAfterMs: setting
    .int(d.workerDeadAfterMs, 200)
    .describe(
      'A fencer process not heard for this long is dead: its fence claims may be taken over at once, whatever their lease had left (a crash costs about this much). A process that could not say it is alive stops acting on its claims a quarter of this (at most 500 ms) earlier. Keep it at least three beats.',
    ),
  unfencePowerOn: setting.bool(d.unfencePowerOn).describe('Unfence: power a host that is off on before giving it back to Nova.'),
  unfenceMaxWaitMs: setting.ms(d.unfenceMaxWaitMs).describe('Unfence: how long to keep asking Nova to clear forced_down while it refuses.'),
  unfenceRetryIntervalMs: setting.int(d.unfenceRetryIntervalMs, 1).describe('Unfence: first pause between those attempts; it doubles up to 30 s.'),
  fenceDisableReason: z
    .string()
    .max(255)
    .default(d.disableReason ?? '')
    .describe('Disable nova-compute with this reason along with the force-down (one Nova call); empty: force down only.'),
  bmcSecretDir: z
    .string()
    .min(1)
    .refine((v) => v.startsWith('/'), 'must be an absolute directory path')
    .default(d.bmcSecretDir)
    .describe('Where BMC password files live: `password_file=` must resolve to a regular file under it.'),
  bmcPasswordEnvAllow: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a comma-separated list of environment variable names')))
    .describe('Comma-separated environment variables `password_env=` may name (none by default: use password_file).'),
  fenceKdumpPort: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(d.kdumpPort)
    .describe("UDP port to hear fence_kdump messages on (fence_kdump's is 7410); 0: not listening, kdump=true hosts are powered off at once."),
  fenceKdumpAddress: z.string().min(1).default(d.kdumpAddress).describe('The address FENCE_KDUMP_PORT is bound to.'),
  fenceKdumpIdleMs: setting.ms(d.kdumpIdleMs).describe("Silence after which a host's kernel dump counts as ended; also how long a kdump=true host's first message is waited for."),
  fenceKdumpMaxWaitMs: setting.ms(d.kdumpMaxWaitMs).describe("The longest a power off waits for a host's kernel dump."),
  ...opsSettings(9102),
})
export type FencerEnv = z.infer<typeof FencerEnv>

/** The fencer's file, /etc/lazarus/fencer.conf. */
export const fencerSettings: ServiceSettings<typeof FencerEnv> = {
  service: 'fencer',
  schema: FencerEnv,
  layout: mergeLayouts(openStackLayout, commonLayout, { prefixes: { bmc: 'bmc' } }),
}

/** The fencer's configuration from its settings (names differ where the settings say what they are for). */
export const fencerConfigFromSettings = (env: Omit<FencerEnv, 'amqpUrl' | 'opsPort' | 'opsHost'>): FencerConfig => ({
  fenceCheckIntervalMs: env.fenceCheckIntervalMs,
  fenceCheckMaxCount: env.fenceCheckMaxCount,
  novaDownCheckIntervalMs: env.novaDownCheckIntervalMs,
  novaDownMaxWaitMs: env.novaDownMaxWaitMs,
  forceDownConfirmTimeoutMs: env.forceDownConfirmTimeoutMs,
  powerRequestTimeoutMs: env.powerRequestTimeoutMs,
  leaseMs: env.fenceLeaseMs,
  workerBeatMs: env.workerBeatMs,
  workerDeadAfterMs: env.workerDeadAfterMs,
  workerSafetyMs: Math.min(d.workerSafetyMs, Math.floor(env.workerDeadAfterMs / 4)),
  unfencePowerOn: env.unfencePowerOn,
  unfenceMaxWaitMs: env.unfenceMaxWaitMs,
  unfenceRetryIntervalMs: env.unfenceRetryIntervalMs,
  disableReason: env.fenceDisableReason === '' ? null : env.fenceDisableReason,
  bmcSecretDir: env.bmcSecretDir,
  bmcPasswordEnvAllow: env.bmcPasswordEnvAllow,
  kdumpPort: env.fenceKdumpPort,
  kdumpAddress: env.fenceKdumpAddress,
  kdumpIdleMs: env.fenceKdumpIdleMs,
  kdumpMaxWaitMs: env.fenceKdumpMaxWaitMs,
})
