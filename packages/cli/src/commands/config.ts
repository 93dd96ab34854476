import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { argument, command, group, printJson, type Context, type Opts, type Program } from '../cli.js'
import { CliError, Exit, usageError } from '../errors.js'

const DETAILS = `Reads the file as the service would (INI, oslo.config's style) and checks every section,
option and value against the service's settings, without starting anything and without the
environment. The service is --service, else the file's name (api.conf is the api's).
Each problem is printed as "[section] option: what is wrong"; exit 0 when there is none, 1 otherwise.
docs/configuration.md lists every setting.`

const check = async (ctx: Context, [file]: string[], opts: Opts): Promise<number> => {
  const path = file as string
  const name = (opts['service'] as string | undefined) ?? basename(path).replace(/\.(conf|ini)$/, '')
  // Loaded only here: the services' schemas are not needed by any other command.
  const { checkConfigText, showProblem } = await import('../config/check.js')
  const { findService, serviceNames } = await import('../config/services.js')
  const settings = findService(name)
  if (!settings) {
    throw usageError(
      `${opts['service'] ? `unknown service '${name}'` : `cannot tell the service from the file name '${basename(path)}': give --service`}; services: ${serviceNames().join(', ')}`,
    )
  }
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, Exit.failed)
  }
  const problems = checkConfigText(settings, text)
  if (ctx.json) printJson(ctx, { file: path, service: settings.service, problems })
  else if (problems.length === 0) ctx.io.out(`${path}: valid ${settings.service} configuration`)
  else {
    ctx.io.err(`${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'} (${settings.service})`)
    for (const p of problems) ctx.io.err(`  ${showProblem(p)}`)
  }
  return problems.length === 0 ? Exit.ok : Exit.failed
}

export const addConfigCommands = ({ program, action }: Program): void => {
  const config = group(program, 'config', "check the services' configuration files")
  command(config, 'check', "validate a service's config file without starting it", DETAILS)
    .addArgument(argument('file', 'the INI file, e.g. /etc/lazarus/api.conf'))
    .option('--service <name>', 'whose file it is: api|detector|fencer|evacuator|agent|ingest (default: from the file name)')
    .action(action(check))
}
