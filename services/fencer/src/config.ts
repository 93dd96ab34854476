import { openStackSettings } from '@lazarus/openstack'
import { opsSettings, setting } from '@lazarus/runtime'
import * as z from 'zod'
import { defaultFencerConfig as d } from './fencer-config.js'

/**
 * The fencer's settings (env names: the keys in UPPER_SNAKE_CASE). OpenStack credentials use
 * the standard variable names (OS_AUTH_URL, OS_USERNAME, ...).
 */
export const FencerEnv = z.object({
  amqpUrl: z.string({ error: 'required: the RabbitMQ URL, e.g. amqp://user:pass@rabbit:5672/vhost' }).min(1),
  /** postgres://… in production; a path or `memory:` for PGlite (default: in memory). */
  databaseUrl: z.string().optional(),
  ...openStackSettings,
  fenceCheckIntervalMs: setting.ms(d.fenceCheckIntervalMs),
  fenceCheckMaxCount: setting.int(d.fenceCheckMaxCount, 1),
  novaDownCheckIntervalMs: setting.ms(d.novaDownCheckIntervalMs),
  novaDownMaxWaitMs: setting.ms(d.novaDownMaxWaitMs),
  forceDownConfirmTimeoutMs: setting.ms(d.forceDownConfirmTimeoutMs),
  powerRequestTimeoutMs: setting.int(d.powerRequestTimeoutMs, 1),
  fenceLeaseMs: setting.int(d.leaseMs, 1000),
  unfencePowerOn: setting.bool(d.unfencePowerOn),
  unfenceMaxWaitMs: setting.ms(d.unfenceMaxWaitMs),
  unfenceRetryIntervalMs: setting.int(d.unfenceRetryIntervalMs, 1),
  /** Disable nova-compute with this reason along with the force-down (one Nova call); empty: force down only. */
  fenceDisableReason: z.string().max(255).default(d.disableReason ?? ''),
  /** Where BMC password files live: `password_file=` must resolve to a regular file under it. */
  bmcSecretDir: z.string().min(1).refine((v) => v.startsWith('/'), 'must be an absolute directory path').default(d.bmcSecretDir),
  /** Comma-separated environment variables `password_env=` may name (none by default: use password_file). */
  bmcPasswordEnvAllow: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
    .pipe(z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a comma-separated list of environment variable names'))),
  ...opsSettings(9102),
})
export type FencerEnv = z.infer<typeof FencerEnv>
