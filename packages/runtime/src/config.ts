import { readFileSync } from 'node:fs'
import * as z from 'zod'
import { DEFAULT_SECTION, filePlace, readIniSettings, showPlace, type FileProblem, type ServiceSettings } from './config-file.js'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Where a service's file comes from: `--config-file FILE` on its command line, else `LAZARUS_CONFIG_FILE`. */
export const configFileOf = (env: NodeJS.ProcessEnv, argv: readonly string[]): string | undefined => {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--config-file') {
      const next = argv[i + 1]
      if (next === undefined || next.startsWith('--')) throw new ConfigError('--config-file needs a file name')
      return next
    }
    if (a.startsWith('--config-file=')) return a.slice('--config-file='.length)
  }
  const fromEnv = env['LAZARUS_CONFIG_FILE']
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv
}

/** A setting's names, for messages: `[host_failure] evacuate_all_instances / EVACUATE_ALL_INSTANCES`. */
export const settingNames = (settings: Pick<ServiceSettings, 'layout'>, key: string): string => `${showPlace(filePlace(settings.layout, key))} / ${toEnvName(key)}`

/** The schema's verdict on the merged values, each problem named by its file place and env name. */
export const validateSettings = <S extends z.ZodObject>(
  settings: Pick<ServiceSettings<S>, 'schema' | 'layout'>,
  values: Record<string, unknown>,
): { data: z.infer<S>; problems: [] } | { data?: undefined; problems: FileProblem[] } => {
  const parsed = settings.schema.safeParse(values)
  if (parsed.success) return { data: parsed.data, problems: [] }
  return {
    problems: parsed.error.issues.map((i) => {
      const key = String(i.path[0] ?? '')
      if (key === '') return { section: DEFAULT_SECTION, message: i.message }
      const place = filePlace(settings.layout, key)
      const missing = i.code === 'invalid_type' && values[key] === undefined
      return { ...place, message: `${missing ? `required (or ${toEnvName(key)} in the environment)` : i.message}` }
    }),
  }
}

/**
 * Read a service's settings: its INI file (`--config-file FILE` or `LAZARUS_CONFIG_FILE`;
 * see config-file.ts for the layout), or the JSON file named by `LAZARUS_CONFIG` (the
 * schema's keys), then environment variables over it. Env names are the keys in
 * UPPER_SNAKE_CASE (e.g. `amqpUrl` ← `AMQP_URL`). A bad value throws a ConfigError that
 * names the setting, so the service stops at once with a message an operator can act on.
 */
export const loadServiceConfig = <S extends z.ZodObject>(
  settings: ServiceSettings<S>,
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv.slice(2),
): z.infer<S> => {
  const { schema } = settings
  const iniFile = configFileOf(env, argv)
  const jsonFile = env['LAZARUS_CONFIG']
  let fromFile: Record<string, unknown> = {}
  if (iniFile) {
    let text: string
    try {
      text = readFileSync(iniFile, 'utf8')
    } catch (err) {
      throw new ConfigError(`config file ${iniFile}: cannot read it (${(err as Error).message})`)
    }
    const read = readIniSettings(text, settings)
    if (read.problems.length > 0) {
      throw new ConfigError(
        `invalid configuration in ${iniFile}:\n${read.problems.map((p) => `  ${p.option ? showPlace({ section: p.section, option: p.option }) : `[${p.section}]`}: ${p.message}`).join('\n')}`,
      )
    }
    fromFile = read.values
  } else if (jsonFile) {
    try {
      fromFile = JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, unknown>
    } catch (err) {
      throw new ConfigError(`LAZARUS_CONFIG=${jsonFile}: cannot read it as JSON (${(err as Error).message})`)
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
      const where = iniFile && key !== '' ? ` ${showPlace(filePlace(settings.layout, key))}` : ''
      return `  ${toEnvName(key)} (${key})${where}: ${i.message}`
    })
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  return parsed.data
}

/** `loadServiceConfig` for a bare schema: the JSON file of `LAZARUS_CONFIG` and the environment (no INI layout, no command line). */
export const loadConfig = <S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> => loadServiceConfig({ service: '', schema }, env, [])

export const toEnvName = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()

const TRUE_WORDS = ['true', '1', 'yes', 'on', 't', 'y'] as const
const FALSE_WORDS = ['false', '0', 'no', 'off', 'f', 'n'] as const

/** Settings read from the environment are strings: these coerce and check them. */
export const setting = {
  int: (def: number, min = 0) => z.coerce.number().int().min(min).default(def),
  ms: (def: number) => z.coerce.number().int().min(0).default(def),
  /** oslo.config's BoolOpt words, in any case (masakari.conf's `True` as well as `true`). */
  bool: (def: boolean) =>
    z
      .preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), z.union([z.boolean(), z.enum([...TRUE_WORDS, ...FALSE_WORDS])]))
      .default(def)
      .transform((v) => v === true || (TRUE_WORDS as readonly unknown[]).includes(v)),
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
  opsPort: setting.int(port).describe('Port of the operations endpoint: /healthz, /readyz, /metrics.'),
  opsHost: z.string().min(1).default('0.0.0.0').describe('Address the operations endpoint listens on.'),
})
