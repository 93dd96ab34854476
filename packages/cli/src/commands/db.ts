import { choice, command, flag, group, printJson, str, type Context, type Opts, type Program } from '../cli.js'
import { CliError, Exit, usageError } from '../errors.js'

const SERVICES = ['api', 'fencer', 'evacuator'] as const
type Service = (typeof SERVICES)[number]

const URL_HELP = '--database-url (or DATABASE_URL): postgres://… as the services use it, or a PGlite directory'

const MIGRATE_DETAILS = `Applies the schema migrations of the api, the fencer and the evacuator (or --service) that the
database lacks, as a step of its own before the services start (set their [database]
auto_migrate = false). Without --contract only expand migrations run (they only add, so the
running release keeps working); --contract also applies the contract ones, once no replica of
the previous release runs. Refuses (exit 1) when the database holds a contract migration this
build does not know. docs/upgrades.md has the whole procedure.`

const STATUS_DETAILS = `Lists every migration of each service's schema: applied, pending (with its kind), or unknown
to this build (applied by a newer one). Exit 0 when nothing is pending; 1 when an expand
migration is pending or a contract migration unknown to this build is applied.`

/** Each service's migrations, from its `migrations` export only. */
const loadSchemas = async (only: Service | undefined) => {
  const [api, fencer, evacuator] = await Promise.all([import('@lazarus/api/migrations'), import('@lazarus/fencer/migrations'), import('@lazarus/evacuator/migrations')])
  const all = { api: api.schemas, fencer: fencer.schemas, evacuator: evacuator.schemas }
  return (only ? [only] : SERVICES).flatMap((s) => all[s])
}

const openFromOpts = async (opts: Opts, env: Record<string, string | undefined>) => {
  const url = str(opts, 'database-url') || env['DATABASE_URL']
  if (!url) throw usageError(`${URL_HELP} is required`)
  const { openDb } = await import('@lazarus/db')
  return openDb(url, { max: 1 })
}

const serviceOpt = (opts: Opts): Service | undefined => {
  const s = str(opts, 'service')
  return s === undefined ? undefined : choice('service', s, SERVICES)
}

const migrate =
  (env: Record<string, string | undefined>) =>
  async (ctx: Context, _args: string[], opts: Opts): Promise<number> => {
    const schemas = await loadSchemas(serviceOpt(opts))
    const { runMigrations, SchemaMismatchError } = await import('@lazarus/db')
    const db = await openFromOpts(opts, env)
    const report: { service: string; applied: string[] }[] = []
    try {
      for (const s of schemas) {
        const applied = await runMigrations(db, s.service, s.migrations, { autoMigrate: true, contract: flag(opts, 'contract') })
        report.push({ service: s.service, applied })
        if (!ctx.json) ctx.io.out(applied.length === 0 ? `${s.service}: up to date` : `${s.service}: applied ${applied.join(', ')}`)
      }
    } catch (err) {
      if (err instanceof SchemaMismatchError) throw new CliError(err.message, Exit.failed)
      throw err
    } finally {
      await db.close()
    }
    if (ctx.json) printJson(ctx, report)
    return Exit.ok
  }

const status =
  (env: Record<string, string | undefined>) =>
  async (ctx: Context, _args: string[], opts: Opts): Promise<number> => {
    const schemas = await loadSchemas(serviceOpt(opts))
    const { readApplied, schemaState } = await import('@lazarus/db')
    const db = await openFromOpts(opts, env)
    const rows: { service: string; id: string; kind: string; state: 'applied' | 'pending' | 'unknown' }[] = []
    let blocked = false
    try {
      for (const s of schemas) {
        const applied = await readApplied(db, s.service)
        const state = schemaState(s.migrations, applied)
        const appliedIds = new Set(applied.map((a) => a.id))
        for (const m of s.migrations) rows.push({ service: s.service, id: m.id, kind: m.kind ?? 'expand', state: appliedIds.has(m.id) ? 'applied' : 'pending' })
        for (const a of applied) if (!s.migrations.some((m) => m.id === a.id)) rows.push({ service: s.service, id: a.id, kind: a.kind, state: 'unknown' })
        if (state.pendingExpand.length > 0 || state.unknownContract.length > 0) blocked = true
      }
    } finally {
      await db.close()
    }
    if (ctx.json) printJson(ctx, rows)
    else for (const r of rows) ctx.io.out(`${r.service.padEnd(11)} ${r.id.padEnd(40)} ${r.kind.padEnd(8)} ${r.state}`)
    return blocked ? Exit.failed : Exit.ok
  }

export const addDbCommands = ({ program, action }: Program, env: Record<string, string | undefined> = process.env): void => {
  const db = group(program, 'db', "the services' database schemas")
  command(db, 'migrate', "apply the services' pending migrations (expand; --contract for all)", MIGRATE_DETAILS)
    .option('--database-url <url>', 'the database (env DATABASE_URL)')
    .option('--service <name>', 'only this service: api|fencer|evacuator')
    .option('--contract', 'apply the contract migrations too (after every service runs the new release)')
    .action(action(migrate(env)))
  command(db, 'status', 'list applied, pending and unknown migrations', STATUS_DETAILS)
    .option('--database-url <url>', 'the database (env DATABASE_URL)')
    .option('--service <name>', 'only this service: api|fencer|evacuator')
    .action(action(status(env)))
}
