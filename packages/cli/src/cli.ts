import { Argument, Command, type CommanderError, Help, Option } from 'commander'
import type { ApiClient } from '@lazarus/api-contract'
import { CliError, Exit, usageError } from './errors.js'

/**
 * The command tree is commander's: each command module adds its commands with `command()`
 * below, and `createProgram` configures help, output and exits for all of them.
 */

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

/** A command's own option values, by commander's attribute name (`--poll-interval` is `pollInterval`). */
export type Opts = Record<string, unknown>

/** What a command does once commander has parsed its line: the exit code. */
export type Run = (ctx: Context, args: string[], opts: Opts) => Promise<number>

export const VERSION = 'lazarus 0.1.0 (instance-ha api microversion 1.3)'

const TAGLINE = 'The Lazarus operator CLI: failover segments, hosts and notifications of the instance-HA api (Masakari v1 compatible).'

const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  the operation failed (or the watched recovery failed / ended in error)
  2  usage error: bad flags or values (the api answering 400 too)
  3  the watched recovery was ignored
  4  not found
  5  conflict (409): e.g. a segment in use by a recovery, a duplicate notification
  6  authentication or permission (401/403)
  7  cannot reach the api
  8  notification watch: --timeout ran out before the recovery ended`

const CONFIG_HELP = [
  'Configuration: --url/--token, else LAZARUS_URL/LAZARUS_TOKEN, else the JSON file in LAZARUS_CLI_CONFIG',
  'or ~/.config/lazarus/cli.json ({"url": "http://…", "token": "…"}). Default url: http://127.0.0.1:15868.',
].join('\n')

/** After the help of the program and of each group. */
const AFTER_HELP = `\n${CONFIG_HELP}\n\n${EXIT_CODES_HELP}`

/** The words of a command line up to this command: `lazarus host maintenance`. */
const commandPath = (cmd: Command): string[] => (cmd.parent ? [...commandPath(cmd.parent), cmd.name()] : [cmd.name()])

const argumentUsage = (a: Argument): string => (a.argChoices ? a.argChoices.join('|') : `<${a.name()}>`)

/** `lazarus host maintenance on|off <segment> <host>`, `lazarus segment create <name> [options]`, `lazarus segment <command>`. */
export const usageLine = (cmd: Command): string =>
  [...commandPath(cmd), ...(cmd.commands.length ? ['<command>'] : cmd.registeredArguments.map(argumentUsage)), ...(cmd.options.some((o) => !o.hidden) ? ['[options]'] : [])].join(
    ' ',
  )

/** Every runnable command under `cmd`, depth first: help lists them all with their usage. */
export const leafCommands = (cmd: Command): Command[] =>
  new Help()
    .visibleCommands(cmd)
    .filter((c) => cmd.commands.includes(c)) // not hidden ones, nor the implicit `help` command
    .flatMap((c) => (c.commands.length ? leafCommands(c) : [c]))

/**
 * Help as the CLI has always shown it: usage, description, then arguments, commands, the
 * command's own options and the global options, each section aligned on its own, no wrapping.
 */
const helpConfiguration = (helpOption: Option): Partial<Help> => ({
  minWidthToWrap: Number.POSITIVE_INFINITY,
  commandUsage: usageLine,
  visibleCommands: leafCommands,
  subcommandTerm: usageLine,
  argumentTerm: (a) => `<${a.name()}>`,
  optionTerm: (o) => (o.short ? o.flags : `    ${o.flags}`),
  formatHelp: (cmd, helper) => {
    const section = (title: string, items: (readonly [string, string])[]): string[] => {
      if (items.length === 0) return []
      const w = Math.max(...items.map(([t]) => helper.displayWidth(t)))
      return ['', title, ...items.map(([t, d]) => helper.formatItem(t, w, d, helper))]
    }
    const options = (c: Command) => c.options.filter((o) => !o.hidden).map((o) => [helper.optionTerm(o), helper.optionDescription(o)] as const)
    let root = cmd
    while (root.parent) root = root.parent
    const lines = [
      `Usage: ${helper.commandUsage(cmd)}`,
      '',
      helper.commandDescription(cmd),
      ...section(
        'Arguments:',
        helper.visibleArguments(cmd).map((a) => [helper.argumentTerm(a), a.description] as const),
      ),
      ...section(
        'Commands:',
        helper.visibleCommands(cmd).map((c) => [helper.subcommandTerm(c), helper.subcommandDescription(c)] as const),
      ),
      ...(cmd.parent ? section('Options:', options(cmd)) : []),
      ...section('Global options:', [...options(root), [helper.optionTerm(helpOption), helpOption.description]]),
    ]
    return `${lines.join('\n')}\n`
  },
})

/** A usage error commander found on the command line, with the command it was parsing. */
class UsageExit extends Error {
  constructor(
    readonly commander: CommanderError,
    readonly command: Command,
  ) {
    super(commander.message)
  }
}

/** commander's `error: unknown option '--x'\n(Did you mean --y?)` as `Unknown option '--x' (did you mean --y?)`. */
const usageMessage = (message: string): string => {
  const m = message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean /, ' (did you mean ')
    .replace(/\.$/, '')
  return m.charAt(0).toUpperCase() + m.slice(1)
}

export interface ProgramOptions {
  io: Output
  /** The context a command runs with; `global` holds `--url`, `--token` and `--json`. */
  context(global: Opts): Context
}

/**
 * Add a command under `parent`. `summary` is its line in the command list; `details`, if
 * any, follows the summary in its own help.
 */
export const command = (parent: Command, name: string, summary: string, details?: string): Command =>
  parent
    .command(name)
    .summary(summary)
    .description(details ? `${summary}\n\n${details}` : summary)

/** A group of commands (`segment`, `host`, `notification`): its help lists them. */
export const group = (parent: Command, name: string, summary: string): Command => parent.command(name).summary(summary).description(TAGLINE).addHelpText('after', AFTER_HELP)

/** Positional arguments, checked by commander: all required, `choices` when given. */
export const argument = (name: string, description: string, choices?: readonly string[]): Argument => {
  const a = new Argument(`<${name}>`, description)
  return choices ? a.choices(choices) : a
}

/** A repeatable option's values, in order. */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

export interface Program {
  program: Command
  /** The action of a command: runs `fn` and records its exit code. */
  action(fn: Run): (...params: unknown[]) => Promise<void>
  /** Parse and run one command line: the exit code, every failure reported on stderr. */
  run(argv: readonly string[]): Promise<number>
}

export const createProgram = ({ io, context }: ProgramOptions): Program => {
  const helpOption = new Option('-h, --help', 'show help')
  const program = new Command('lazarus')
    .usage('<command> [options]')
    .description(TAGLINE)
    .configureOutput({
      writeOut: (s) => io.write(s),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      // Usage errors are reported by run() below, with a pointer to the command's help.
      outputError: () => {},
    })
    .addHelpOption(helpOption)
    .configureHelp(helpConfiguration(helpOption))
    .option('--url <url>', 'the api, e.g. http://127.0.0.1:15868 (env LAZARUS_URL, config file "url")')
    .option('--token <token>', 'an API key sent as X-Auth-Token (env LAZARUS_TOKEN, config file "token")')
    .option('--json', "print the api's JSON instead of tables")
    .version(VERSION, '--version')
    .addHelpText('after', AFTER_HELP)
  program.options.find((o) => o.long === '--version')?.hideHelp()

  let code: number = Exit.ok
  const action =
    (fn: Run) =>
    async (...params: unknown[]): Promise<void> => {
      const cmd = params.at(-1) as Command
      code = await fn(context(cmd.optsWithGlobals()), cmd.processedArgs as string[], cmd.opts())
    }

  program
    .command('version', { hidden: true })
    .description('print the version')
    .action(() => io.out(VERSION))

  const run = async (argv: readonly string[]): Promise<number> => {
    // Every command throws instead of exiting, naming itself so the error can point at its help.
    const override = (cmd: Command) => {
      cmd.exitOverride((err) => {
        throw new UsageExit(err, cmd)
      })
      cmd.commands.forEach(override)
    }
    override(program)
    try {
      await program.parseAsync([...argv], { from: 'user' })
      return code
    } catch (err) {
      if (err instanceof UsageExit) {
        const e = err.commander
        if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return Exit.ok
        // `help <command>`, or help shown on stderr because the line named no command.
        if (e.code === 'commander.help') return e.exitCode === 0 ? Exit.ok : Exit.usage
        if (e.code === 'commander.unknownCommand') {
          io.err(`lazarus: ${usageMessage(e.message)}`)
          io.err('')
          err.command.outputHelp({ error: true })
          return Exit.usage
        }
        io.err(`lazarus: ${usageMessage(e.message)} — see \`${commandPath(err.command).join(' ')} --help\``)
        return Exit.usage
      }
      if (err instanceof CliError) {
        io.err(`lazarus: ${err.message}`)
        return err.exitCode
      }
      io.err(`lazarus: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
      return Exit.failed
    }
  }

  return { program, action, run }
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

/** The attribute commander stores `--flag-name` under. */
const attribute = (flag: string): string => new Option(`--${flag} <value>`).attributeName()

/** A string option by its flag name (`control-attributes`). */
export const str = (opts: Opts, flag: string): string | undefined => {
  const v = opts[attribute(flag)]
  return typeof v === 'string' ? v : undefined
}

export const requireStr = (opts: Opts, flag: string, hint = ''): string => {
  const v = str(opts, flag)
  if (v === undefined) throw usageError(`--${flag} is required${hint ? ` (${hint})` : ''}`)
  return v
}

/** A boolean option (`--watch`) by its flag name. */
export const flag = (opts: Opts, name: string): boolean => opts[attribute(name)] === true

export const printJson = (ctx: Context, value: unknown) => ctx.io.out(JSON.stringify(value, null, 2))

export { CliError, Exit }
export type { Command }
