import { readFileSync } from 'node:fs'
import * as z from 'zod'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Read a service's settings: the JSON file named by `LAZARUS_CONFIG` (if any), then
 * environment variables over it. Keys are the schema's keys; env names are the keys in
 * UPPER_SNAKE_CASE (e.g. `amqpUrl` ← `AMQP_URL`). A bad value throws a ConfigError that
 * names the setting, so the service stops at once with a message an operator can act on.
 */
export const loadConfig = <S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> => {
  const file = env['LAZARUS_CONFIG']
  let fromFile: Record<string, unknown> = {}
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    } catch (err) {
      throw new ConfigError(`LAZARUS_CONFIG=${file}: cannot read it as JSON (${(err as Error).message})`)
    }
  }
  const merged: Record<string, unknown> = { ...fromFile }
  for (const key of Object.keys(schema.shape)) {
    const envName = toEnvName(key)
    const v = env[envName]
    if (v !== undefined && v !== '') merged[key] = v
  }
  const parsed = schema.safeParse(merged)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '')
      return `  ${toEnvName(key)} (${key}): ${i.message}`
    })
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  return parsed.data
}

export const toEnvName = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()

/** Settings read from the environment are strings: these coerce and check them. */
export const setting = {
  int: (def: number, min = 0) => z.coerce.number().int().min(min).default(def),
  ms: (def: number) => z.coerce.number().int().min(0).default(def),
  bool: (def: boolean) =>
    z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
      .default(def)
      .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes'),
  url: () => z.url(),
  /** A value given as JSON text (from the environment) or as JSON already (from the file). */
  json: <T extends z.ZodType>(schema: T) =>
    z.preprocess((v, ctx) => {
      if (typeof v !== 'string') return v
      try {
        return JSON.parse(v) as unknown
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not valid JSON (${(err as Error).message})` })
        return z.NEVER
      }
    }, schema),
}

/**
 * The operations endpoint (/healthz, /readyz, /metrics) every service has: OPS_PORT, and
 * OPS_HOST (all interfaces by default, so that probes and Prometheus can reach it).
 */
export const opsSettings = (port: number) => ({
  opsPort: setting.int(port),
  opsHost: z.string().min(1).default('0.0.0.0'),
})
