import { createApiClient, type ApiClient } from './api-client.js'
import { commandHelp, groupHelp, parseCommandLine, type Context, type Output } from './cli.js'
import { commands } from './commands/index.js'
import { resolveConfig } from './config.js'
import { CliError, Exit } from './errors.js'

export interface RunOptions {
  argv: readonly string[]
  env: Record<string, string | undefined>
  io: Output
}

/** Run one command line; returns the exit code. Every failure is reported on stderr. */
export const runCli = async ({ argv, env, io }: RunOptions): Promise<number> => {
  try {
    if (argv[0] === '--version' || argv[0] === 'version') {
      io.out('lazarus 0.1.0 (instance-ha api microversion 1.3)')
      return Exit.ok
    }
    const parsed = parseCommandLine(commands, argv)
    if (!parsed.command) {
      if (parsed.help || parsed.group.length === 0) {
        io.out(groupHelp(commands, parsed.group))
        return parsed.help ? Exit.ok : Exit.usage
      }
      const known = commands.some((c) => c.path[0] === parsed.group[0])
      io.err(`lazarus: unknown command "${parsed.group.join(' ')}"`)
      io.err('')
      io.err(groupHelp(commands, known ? parsed.group.slice(0, 1) : []))
      return Exit.usage
    }
    if (parsed.help) {
      io.out(commandHelp(parsed.command))
      return Exit.ok
    }
    const opts = parsed.opts
    let client: ApiClient | undefined
    const ctx: Context = {
      json: opts['json'] === true,
      io,
      api: () => {
        client ??= createApiClient({
          config: resolveConfig({
            flags: { url: typeof opts['url'] === 'string' ? opts['url'] : undefined, token: typeof opts['token'] === 'string' ? opts['token'] : undefined },
            env,
          }),
        })
        return client
      },
    }
    return await parsed.command.run(ctx, parsed.args, opts)
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`lazarus: ${err.message}`)
      return err.exitCode
    }
    io.err(`lazarus: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    return Exit.failed
  }
}
