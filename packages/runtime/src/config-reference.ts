import * as z from 'zod'
import { filePlace, type ServiceSettings } from './config-file.js'
import { toEnvName } from './config.js'

/** One setting as the reference shows it. */
export interface SettingDoc {
  key: string
  section: string
  option: string
  env: string
  /** The default as text; undefined when the setting has none (unset or required). */
  default: string | undefined
  required: boolean
  description: string
}

type AnySchema = z.core.$ZodType

/** The wrapped schema of optional/default/pipe/transform layers, outermost first. */
const layers = (schema: AnySchema): AnySchema[] => {
  const out: AnySchema[] = []
  let s: AnySchema | undefined = schema
  while (s && out.length < 20) {
    out.push(s)
    const def = s._zod.def as { innerType?: AnySchema; in?: AnySchema; type: string }
    s = def.innerType ?? (def.type === 'pipe' ? def.in : undefined)
  }
  return out
}

const descriptionOf = (schema: AnySchema): string => {
  for (const s of layers(schema)) {
    const d = z.globalRegistry.get(s)?.description
    if (d) return d
  }
  return ''
}

const showValue = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v))

/** Every setting of a service: where it sits in the file, its env name, default and description. */
export const settingsReference = (settings: ServiceSettings): SettingDoc[] =>
  Object.entries(settings.schema.shape as Record<string, AnySchema>).map(([key, schema]) => {
    const place = filePlace(settings.layout, key)
    const withDefault = layers(schema).find((s) => s._zod.def.type === 'default') as { _zod: { def: { defaultValue: unknown } } } | undefined
    const computed = settings.computedDefaults?.[key]
    const optional = layers(schema).some((s) => s._zod.def.type === 'optional')
    return {
      key,
      ...place,
      env: toEnvName(key),
      default: computed ?? (withDefault ? showValue(withDefault._zod.def.defaultValue) : undefined),
      required: !withDefault && !optional && computed === undefined,
      description: descriptionOf(schema),
    }
  })

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** The reference of every service as Markdown (docs/configuration.md). */
export const renderConfigurationReference = (services: readonly ServiceSettings[], intro: string): string => {
  const out: string[] = [intro.trimEnd(), '']
  for (const s of services) {
    out.push(`## ${s.service}`, '', `File: \`/etc/lazarus/${s.service}.conf\`.`, '')
    const docs = settingsReference(s)
    const sections = [...new Set(docs.map((d) => d.section))].sort((a, b) => (a === 'DEFAULT' ? -1 : b === 'DEFAULT' ? 1 : a.localeCompare(b)))
    for (const section of sections) {
      out.push(`### ${s.service}: [${section}]`, '', '| Option | Environment | Default | Description |', '|---|---|---|---|')
      for (const d of docs.filter((x) => x.section === section)) {
        const def = d.default === undefined ? (d.required ? '**required**' : '(unset)') : d.default === '' ? '(empty)' : `\`${cell(d.default)}\``
        out.push(`| \`${d.option}\` | \`${d.env}\` | ${def} | ${cell(d.description)} |`)
      }
      out.push('')
    }
  }
  return `${out.join('\n').trimEnd()}\n`
}
