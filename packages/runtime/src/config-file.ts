import * as ini from 'ini'
import type * as z from 'zod'

/**
 * Where a service's settings sit in its INI file (oslo.config's style, as Masakari's
 * masakari.conf): `[section] option = value`. A setting not placed otherwise is
 * `[DEFAULT] <key in snake_case>` (`outboxSweepMs` → `outbox_sweep_ms`).
 */
export interface ConfigFileLayout {
  /** Settings placed by name: `{ host_failure: { evacuateAllInstances: 'evacuate_all_instances' } }`. */
  sections?: Record<string, Record<string, string>>
  /** Settings placed by prefix, the prefix dropped from the option: `{ kafka: 'kafka' }` puts `kafkaSslCaFile` at `[kafka] ssl_ca_file`. */
  prefixes?: Record<string, string>
}

/** One service's settings: its name (the file is `<service>.conf`), its schema and its file layout. */
export interface ServiceSettings<S extends z.ZodObject = z.ZodObject> {
  service: string
  schema: S
  layout?: ConfigFileLayout
  /** Defaults the reference cannot print as a value because they depend on the machine (`hostName`: "this host's name"). */
  computedDefaults?: Record<string, string>
}

export interface FilePlace {
  section: string
  option: string
}

export const DEFAULT_SECTION = 'DEFAULT'

export const toSnakeCase = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

/** Where one setting sits in the file. */
export const filePlace = (layout: ConfigFileLayout | undefined, key: string): FilePlace => {
  for (const [section, options] of Object.entries(layout?.sections ?? {})) {
    const option = options[key]
    if (option !== undefined) return { section, option }
  }
  for (const [prefix, section] of Object.entries(layout?.prefixes ?? {})) {
    if (key.startsWith(prefix) && /[A-Z]/.test(key.charAt(prefix.length))) {
      const rest = key.slice(prefix.length)
      return { section, option: toSnakeCase(rest.charAt(0).toLowerCase() + rest.slice(1)) }
    }
  }
  return { section: DEFAULT_SECTION, option: toSnakeCase(key) }
}

export const showPlace = (p: FilePlace): string => `[${p.section}] ${p.option}`

/** Something wrong with a file, named by where it is. */
export interface FileProblem {
  section: string
  option?: string
  message: string
}

export interface ReadFileResult {
  /** Schema keys → the file's values, as text (as the environment gives them). */
  values: Record<string, string>
  problems: FileProblem[]
}

/**
 * Read an INI text into the schema's keys. Every value is text, as from the environment
 * (the same coercions apply); an empty value leaves the setting unset. An unknown section
 * or option is a problem, not ignored: a misspelt option would silently keep its default.
 */
export const readIniSettings = (text: string, settings: Pick<ServiceSettings, 'schema' | 'layout'>): ReadFileResult => {
  const byPlace = new Map<string, string>()
  const sections = new Set<string>([DEFAULT_SECTION])
  for (const key of Object.keys(settings.schema.shape)) {
    const p = filePlace(settings.layout, key)
    byPlace.set(`${p.section}\u0000${p.option}`, key)
    sections.add(p.section)
  }
  // Section names with dots would nest (ini's `[a.b]`); oslo.config's names have none.
  const parsed = ini.decode(text, { bracketedArray: false }) as Record<string, unknown>
  const values: Record<string, string> = {}
  const problems: FileProblem[] = []
  const take = (section: string, option: string, value: unknown) => {
    const key = byPlace.get(`${section}\u0000${option}`)
    if (key === undefined) {
      problems.push({ section, option, message: `unknown option${sections.has(section) ? '' : ` (and unknown section [${section}])`}` })
      return
    }
    if (Array.isArray(value)) {
      problems.push({ section, option, message: 'given more than once' })
      return
    }
    const text = value === null ? 'null' : String(value)
    if (text.trim() !== '') values[key] = text
  }
  for (const [name, value] of Object.entries(parsed)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (!sections.has(name)) {
        problems.push({ section: name, message: `unknown section; this service's sections: ${[...sections].map((s) => `[${s}]`).join(', ')}` })
        continue
      }
      for (const [option, v] of Object.entries(value as Record<string, unknown>)) take(name, option, v)
    } else {
      // Options before any section header belong to [DEFAULT].
      take(DEFAULT_SECTION, name, value)
    }
  }
  return { values, problems }
}

/** Several layouts as one; a setting placed by name in two of them takes the first place. */
export const mergeLayouts = (...layouts: ConfigFileLayout[]): ConfigFileLayout => {
  const sections: Record<string, Record<string, string>> = {}
  const prefixes: Record<string, string> = {}
  for (const l of layouts) {
    for (const [section, options] of Object.entries(l.sections ?? {})) sections[section] = { ...sections[section], ...options }
    Object.assign(prefixes, l.prefixes)
  }
  return { sections, prefixes }
}

/**
 * What every service places alike: the database as Masakari's `[database] connection`, the
 * broker in `[messaging]`, NATS in `[nats]` (`natsUrl` → `[nats] url`).
 */
export const commonLayout: ConfigFileLayout = {
  sections: {
    database: { databaseUrl: 'connection', dbPoolSize: 'max_pool_size', dbAutoMigrate: 'auto_migrate' },
    messaging: { amqpUrl: 'amqp_url' },
  },
  prefixes: { nats: 'nats' },
}
