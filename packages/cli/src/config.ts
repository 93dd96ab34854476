import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import * as z from 'zod'
import { CliError, Exit } from './errors.js'

/** Where the api listens by default (Masakari's port, on this machine). */
export const DEFAULT_URL = 'http://127.0.0.1:15868'

export const ConfigFile = z.strictObject({
  url: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
})
export type ConfigFile = z.infer<typeof ConfigFile>

export interface CliConfig {
  /** The api's base URL, without a trailing slash or `/v1`. */
  url: string
  token: string | undefined
  /** Where the URL came from, for error messages. */
  urlSource: 'flag' | 'env' | 'file' | 'default'
  configPath: string
}

export interface ConfigSources {
  flags: { url?: string | undefined; token?: string | undefined }
  env: Record<string, string | undefined>
  home?: string
  readFile?: (path: string) => string | undefined
}

/** `LAZARUS_CLI_CONFIG`, else `$XDG_CONFIG_HOME/lazarus/cli.json`, else `~/.config/lazarus/cli.json`. */
export const configPath = (env: Record<string, string | undefined>, home = homedir()): string =>
  env['LAZARUS_CLI_CONFIG'] || join(env['XDG_CONFIG_HOME'] || join(home, '.config'), 'lazarus', 'cli.json')

const readIfExists = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CliError(`cannot read the config file ${path}: ${(err as Error).message}`, Exit.usage)
  }
}

export const parseConfigFile = (path: string, text: string): ConfigFile => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new CliError(`the config file ${path} is not valid JSON: ${(err as Error).message}`, Exit.usage)
  }
  const parsed = ConfigFile.safeParse(json)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')
    throw new CliError(`the config file ${path} is invalid (${issues}); it holds {"url": "http://…", "token": "…"}`, Exit.usage)
  }
  return parsed.data
}

/** The api URL as given, normalised: no trailing slash, no `/v1` suffix. */
export const normaliseUrl = (raw: string): string => {
  const trimmed = raw.trim().replace(/\/+$/, '').replace(/\/v1$/, '')
  let u: URL
  try {
    u = new URL(trimmed)
  } catch {
    throw new CliError(`the api URL "${raw}" is not a URL: give one like http://127.0.0.1:15868`, Exit.usage)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(`the api URL "${raw}" must start with http:// or https://`, Exit.usage)
  }
  return trimmed
}

/** Flags, then the environment, then the config file (only read when it is needed). */
export const resolveConfig = (src: ConfigSources): CliConfig => {
  const path = configPath(src.env, src.home)
  let file: ConfigFile | undefined
  const fromFile = (): ConfigFile => {
    if (!file) {
      const text = (src.readFile ?? readIfExists)(path)
      file = text === undefined ? {} : parseConfigFile(path, text)
    }
    return file
  }
  const env = (k: string) => (src.env[k] ? src.env[k] : undefined)

  let url: string
  let urlSource: CliConfig['urlSource']
  if (src.flags.url) [url, urlSource] = [src.flags.url, 'flag']
  else if (env('LAZARUS_URL')) [url, urlSource] = [env('LAZARUS_URL') as string, 'env']
  else if (fromFile().url) [url, urlSource] = [fromFile().url as string, 'file']
  else [url, urlSource] = [DEFAULT_URL, 'default']

  const token = src.flags.token || env('LAZARUS_TOKEN') || fromFile().token
  return { url: normaliseUrl(url), token, urlSource, configPath: path }
}
