import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { ApiClient } from './api-client.js'
import { CliError, Exit, usageError } from './errors.js'

/**
 * A small command framework on `node:util` parseArgs: commands are data (path, arguments,
 * options, help), so help, usage errors and dispatch come from one table.
 */

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Shown in help as `--name <value>`. */
  value?: string
  description: string
}

export interface ArgSpec {
  name: string
  description: string
  /** Accepted values, checked before the command runs. */
  choices?: readonly string[]
}

export interface Output {
  /** A line to stdout. */
  out(text: string): void
  /** Raw text to stdout (terminal control sequences). */
  write(text: string): void
  err(text: string): void
  /** True when stdout is a terminal (live progress redraws in place). */
  tty: boolean
}

export interface Context {
  json: boolean
  api(): ApiClient
  io: Output
}

export interface CommandSpec {
  path: readonly string[]
  summary: string
  /** More help text, shown under the usage line. */
  details?: string
  args?: readonly ArgSpec[]
  options?: Readonly<Record<string, OptionSpec>>
  run(ctx: Context, args: string[], opts: Record<string, string | boolean | string[] | undefined>): Promise<number>
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  url: { type: 'string', value: 'url', description: 'the api, e.g. http://127.0.0.1:15868 (env LAZARUS_URL, config file "url")' },
  token: { type: 'string', value: 'token', description: 'an API key sent as X-Auth-Token (env LAZARUS_TOKEN, config file "token")' },
  json: { type: 'boolean', description: "print the api's JSON instead of tables" },
  help: { type: 'boolean', short: 'h', description: 'show help' },
}

const toParseOptions = (specs: Readonly<Record<string, OptionSpec>>): NonNullable<ParseArgsConfig['options']> =>
  Object.fromEntries(
    Object.entries(specs).map(([k, s]) => [k, { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) }]),
  )

export interface Parsed {
  command: CommandSpec | undefined
  /** Words that matched a group but no command (`lazarus segment`). */
  group: string[]
  args: string[]
  opts: Record<string, string | boolean | string[] | undefined>
  help: boolean
}

/** Find the command (its path is the longest prefix of the positional words), then parse strictly. */
export const parseCommandLine = (commands: readonly CommandSpec[], argv: readonly string[]): Parsed => {
  const all: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS }
  for (const c of commands) Object.assign(all, c.options)
  const loose = parseArgs({ args: [...argv], options: toParseOptions(all), strict: false, allowPositionals: true })
  const words = loose.positionals
  let command: CommandSpec | undefined
  for (const c of commands) {
    if (c.path.length <= words.length && c.path.every((p, i) => words[i] === p) && (!command || c.path.length > command.path.length)) command = c
  }
  const help = loose.values['help'] === true || words[0] === 'help'
  if (!command) {
    const group = words[0] === 'help' ? words.slice(1) : words
    return { command: undefined, group, args: [], opts: {}, help }
  }
  if (help) return { command, group: [], args: [], opts: {}, help }
  let strict
  try {
    strict = parseArgs({ args: [...argv], options: toParseOptions({ ...GLOBAL_OPTIONS, ...command.options }), strict: true, allowPositionals: true })
  } catch (err) {
    throw usageError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')} — see \`lazarus ${command.path.join(' ')} --help\``)
  }
  const args = strict.positionals.slice(command.path.length)
  const expected = command.args ?? []
  if (args.length < expected.length) {
    const missing = expected.slice(args.length).map((a) => `<${a.name}>`).join(' ')
    throw usageError(`missing ${missing} — usage: ${usageLine(command)}`)
  }
  if (args.length > expected.length) {
    throw usageError(`unexpected argument "${args[expected.length]}" — usage: ${usageLine(command)}`)
  }
  expected.forEach((a, i) => {
    if (a.choices && !a.choices.includes(args[i] as string)) {
      throw usageError(`<${a.name}> must be one of ${a.choices.join(', ')} (got "${args[i]}")`)
    }
  })
  return { command, group: [], args, opts: strict.values as Parsed['opts'], help: false }
}

export const usageLine = (c: CommandSpec): string =>
  ['lazarus', ...c.path, ...(c.args ?? []).map((a) => (a.choices ? a.choices.join('|') : `<${a.name}>`)), ...(Object.keys(c.options ?? {}).length ? ['[options]'] : [])].join(' ')

const optionLines = (specs: Readonly<Record<string, OptionSpec>>): string[] => {
  const left = Object.entries(specs).map(([k, s]) => `${s.short ? `-${s.short}, ` : '    '}--${k}${s.value ? ` <${s.value}>` : ''}`)
  const w = Math.max(0, ...left.map((l) => l.length))
  return Object.values(specs).map((s, i) => `  ${(left[i] ?? '').padEnd(w)}  ${s.description}`)
}

export const commandHelp = (c: CommandSpec): string => {
  const parts = [`Usage: ${usageLine(c)}`, '', c.summary]
  if (c.details) parts.push('', c.details)
  if (c.args?.length) {
    const w = Math.max(...c.args.map((a) => a.name.length + 2))
    parts.push('', 'Arguments:', ...c.args.map((a) => `  ${`<${a.name}>`.padEnd(w)}  ${a.description}`))
  }
  if (c.options && Object.keys(c.options).length) parts.push('', 'Options:', ...optionLines(c.options))
  parts.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS))
  return parts.join('\n')
}

export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  the operation failed (or the watched recovery failed / ended in error)
  2  usage error: bad flags or values (the api answering 400 too)
  3  the watched recovery was ignored
  4  not found
  5  conflict (409): e.g. a segment in use by a recovery, a duplicate notification
  6  authentication or permission (401/403)
  7  cannot reach the api
  8  notification watch: --timeout ran out before the recovery ended`

export const groupHelp = (commands: readonly CommandSpec[], group: readonly string[]): string => {
  const matching = commands.filter((c) => group.every((g, i) => c.path[i] === g))
  const list = matching.length ? matching : commands
  const w = Math.max(...list.map((c) => usageLine(c).length))
  const lines = list.map((c) => `  ${usageLine(c).padEnd(w)}  ${c.summary}`)
  const head = group.length && matching.length ? `Usage: lazarus ${group.join(' ')} <command>` : 'Usage: lazarus <command> [options]'
  return [
    head,
    '',
    'The Lazarus operator CLI: failover segments, hosts and notifications of the instance-HA api (Masakari v1 compatible).',
    '',
    'Commands:',
    ...lines,
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Configuration: --url/--token, else LAZARUS_URL/LAZARUS_TOKEN, else the JSON file in LAZARUS_CLI_CONFIG',
    'or ~/.config/lazarus/cli.json ({"url": "http://…", "token": "…"}). Default url: http://127.0.0.1:15868.',
    '',
    EXIT_CODES_HELP,
  ].join('\n')
}

/** Parse `true/false/yes/no/on/off/1/0`; a usage error otherwise. */
export const boolValue = (flag: string, v: string): boolean => {
  const s = v.trim().toLowerCase()
  if (['true', 'yes', 'on', '1', 't', 'y'].includes(s)) return true
  if (['false', 'no', 'off', '0', 'f', 'n'].includes(s)) return false
  throw usageError(`--${flag} takes true or false (got "${v}")`)
}

export const intValue = (flag: string, v: string, min: number, max: number): number => {
  const n = Number(v)
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw usageError(`--${flag} takes a whole number from ${min} to ${max} (got "${v}")`)
  }
  return n
}

export const choice = <T extends string>(flag: string, v: string, choices: readonly T[]): T => {
  if (!(choices as readonly string[]).includes(v)) throw usageError(`--${flag} must be one of ${choices.join(', ')} (got "${v}")`)
  return v as T
}

export const str = (opts: Parsed['opts'], k: string): string | undefined => {
  const v = opts[k]
  return typeof v === 'string' ? v : undefined
}

export const requireStr = (opts: Parsed['opts'], k: string, hint = ''): string => {
  const v = str(opts, k)
  if (v === undefined) throw usageError(`--${k} is required${hint ? ` (${hint})` : ''}`)
  return v
}

export const printJson = (ctx: Context, value: unknown) => ctx.io.out(JSON.stringify(value, null, 2))

export { CliError, Exit }
