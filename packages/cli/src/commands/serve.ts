import { command, type Context, type Opts, type Program } from '../cli.js'
import { CliError, Exit } from '../errors.js'

const DETAILS = `Runs the api, the detector, the fencer and the evacuator in this process, with the
bus in the process and the database in PGlite on disk ([database] connection, default
.data/serve), against a real OpenStack: Keystone and Nova from the OpenStack settings of the
file (os_privileged_user_* or os_cloud with clouds.yaml, application credentials, os_cacert).
Callers authenticate with Keystone tokens of the same Keystone unless the file sets api_keys
or auth. Every setting: docs/configuration.md, section serve; 'lazarus config check FILE
--service serve' validates the file. Environment variables override the file. SIGTERM or
SIGINT stops it cleanly (exit 0). For small clouds and evaluations: the README says when to
move to the separate services.`

const serve = async (ctx: Context, _args: string[], opts: Opts): Promise<number> => {
  const file = opts['config'] as string
  // Loaded only here: the services are needed by no other command.
  const { runServe } = await import('@lazarus/all-in-one/serve')
  let apiUrl: string
  try {
    ;({ apiUrl } = await runServe(file))
  } catch (err) {
    throw new CliError(`lazarus serve: ${(err as Error).message}`, Exit.failed)
  }
  ctx.io.err(`lazarus serve: the api listens on ${apiUrl}/v1 (SIGTERM stops it)`)
  // Runs until a signal: the shutdown handler exits the process.
  return new Promise<number>(() => {})
}

export const addServeCommand = ({ program, action }: Program): void => {
  command(program, 'serve', 'run the whole system in one process against a real OpenStack', DETAILS)
    .requiredOption('--config <file>', 'the INI file, e.g. /etc/lazarus/serve.conf')
    .action(action(serve))
}
