import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import * as z from 'zod'

/**
 * `clouds.yaml` as openstacksdk reads it: the first file found of `OS_CLIENT_CONFIG_FILE`,
 * `./clouds.yaml`, `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`, with
 * `secure.yaml` (same places, `OS_CLIENT_SECURE_FILE` first) merged over it, so that secrets
 * can sit in a file of their own. Only what Lazarus uses is read; the rest is ignored.
 */

const text = z.union([z.string(), z.number()]).transform(String)

const CloudAuth = z.looseObject({
  auth_url: z.string().optional(),
  username: text.optional(),
  password: text.optional(),
  project_name: text.optional(),
  user_domain_name: z.string().optional(),
  project_domain_name: z.string().optional(),
  application_credential_id: z.string().optional(),
  application_credential_name: z.string().optional(),
  application_credential_secret: text.optional(),
})

export const CloudEntry = z.looseObject({
  auth: CloudAuth.optional(),
  auth_type: z.enum(['password', 'v3password', 'v3applicationcredential']).optional(),
  region_name: z.string().optional(),
  interface: z.enum(['public', 'internal', 'admin']).optional(),
  cacert: z.string().optional(),
})
export type CloudEntry = z.infer<typeof CloudEntry>

const CloudsFile = z.looseObject({ clouds: z.record(z.string(), z.looseObject({})).optional() })

export interface CloudsSearch {
  cwd?: string
  home?: string
  /** OS_CLIENT_CONFIG_FILE and OS_CLIENT_SECURE_FILE. */
  configFile?: string | undefined
  secureFile?: string | undefined
}

/** The files openstacksdk would look at, in its order. */
export const cloudsFileCandidates = (name: 'clouds.yaml' | 'secure.yaml', s: CloudsSearch = {}): string[] => {
  const first = name === 'clouds.yaml' ? s.configFile : s.secureFile
  return [...(first ? [first] : []), join(s.cwd ?? process.cwd(), name), join(s.home ?? homedir(), '.config', 'openstack', name), join('/etc/openstack', name)]
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

const deepMerge = (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v
  return out
}

const readYaml = (file: string): Record<string, unknown> => {
  let parsed: unknown
  try {
    parsed = parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`${file}: cannot read it as YAML (${(err as Error).message})`)
  }
  const checked = CloudsFile.safeParse(parsed ?? {})
  if (!checked.success) throw new Error(`${file}: not a clouds file (a mapping with 'clouds:' expected)`)
  return checked.data.clouds ?? {}
}

/** The cloud named `name` (OS_CLOUD), from the first clouds.yaml found, secure.yaml merged over it. */
export const loadCloud = (name: string, s: CloudsSearch = {}): { cloud: CloudEntry; file: string } => {
  const file = cloudsFileCandidates('clouds.yaml', s).find((f) => existsSync(f))
  if (!file) throw new Error(`OS_CLOUD=${name}, but no clouds.yaml was found (looked at ${cloudsFileCandidates('clouds.yaml', s).join(', ')})`)
  const clouds = readYaml(file)
  const secureFile = cloudsFileCandidates('secure.yaml', s).find((f) => existsSync(f))
  const secure = secureFile ? readYaml(secureFile) : {}
  const raw = clouds[name]
  if (!isObject(raw)) throw new Error(`${file} has no cloud '${name}' (it has: ${Object.keys(clouds).join(', ') || 'none'})`)
  const merged = isObject(secure[name]) ? deepMerge(raw, secure[name] as Record<string, unknown>) : raw
  const cloud = CloudEntry.safeParse(merged)
  if (!cloud.success) {
    // Names the field, never its value (it may be a secret).
    const where = cloud.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new Error(`${file}, cloud '${name}': ${where}`)
  }
  return { cloud: cloud.data, file }
}
