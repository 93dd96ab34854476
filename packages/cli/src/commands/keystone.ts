import { connectKeystoneCatalog, KeystoneError, openStackSettings, resolveOpenStackOptions, type EndpointInterface } from '@lazarus/openstack'
import { errorText, toEnvName } from '@lazarus/runtime'
import * as z from 'zod'
import { command, flag, group, printJson, str, type Context, type Opts, type Program } from '../cli.js'
import { CliError, Exit, usageError } from '../errors.js'
import { endpointUrlProblem, planEndpoints, planService, type EndpointStep, type Wanted } from '../keystone/plan.js'

const DETAILS = `Registers the api in Keystone's catalog as Masakari is registered: a service of type
instance-ha (named lazarus) and its endpoints, so that openstacksdk, python-masakariclient and
masakari-monitors find it. Idempotent: a second run changes nothing; a changed URL is updated
in place; a second endpoint of one interface in the region is removed. Needs an admin's
credentials: OS_CLOUD (clouds.yaml) or OS_AUTH_URL with OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME
or an application credential, OS_CACERT. See docs/keystone.md.`

const OsEnv = z.object(openStackSettings)

/** The OS_* settings of the environment, checked as the services check them. */
const osSettingsFromEnv = (env: Record<string, string | undefined>) => {
  const values = Object.fromEntries(
    Object.keys(openStackSettings)
      .map((k) => [k, env[toEnvName(k)]] as const)
      .filter(([, v]) => v !== undefined && v !== ''),
  )
  const parsed = OsEnv.safeParse(values)
  if (!parsed.success) throw usageError(`bad OpenStack settings: ${parsed.error.issues.map((i) => `${toEnvName(String(i.path[0]))}: ${i.message}`).join('; ')}`)
  return parsed.data
}

const describe = (s: EndpointStep): string =>
  s.kind === 'create'
    ? `created ${s.interface} endpoint ${s.url}`
    : s.kind === 'update'
      ? `updated ${s.interface} endpoint ${s.id}: ${s.from} -> ${s.url}`
      : s.kind === 'keep'
        ? `kept ${s.interface} endpoint ${s.id} ${s.url}`
        : `removed ${s.interface} endpoint ${s.id} ${s.url} (${s.why})`

const register =
  (env: Record<string, string | undefined>) =>
  async (ctx: Context, _args: string[], opts: Opts): Promise<number> => {
    const urls: Partial<Record<EndpointInterface, string>> = {}
    for (const iface of ['public', 'internal', 'admin'] as const) {
      const url = str(opts, iface)
      if (url === undefined) continue
      const problem = endpointUrlProblem(url)
      if (problem) throw usageError(`--${iface} ${url}: ${problem}`)
      urls[iface] = url.replace(/\/+$/, '')
    }
    if (Object.keys(urls).length === 0) throw usageError('give at least --public URL (and --internal, --admin as your cloud has them)')
    const settings = osSettingsFromEnv(env)
    let creds: ReturnType<typeof resolveOpenStackOptions>
    try {
      creds = resolveOpenStackOptions(settings)
    } catch (err) {
      throw usageError(errorText(err))
    }
    const wanted: Wanted = {
      name: str(opts, 'name') ?? 'lazarus',
      type: str(opts, 'type') ?? 'instance-ha',
      region: str(opts, 'region') ?? creds.regionName ?? 'RegionOne',
      urls,
    }
    const dryRun = flag(opts, 'dry-run')
    try {
      const keystone = await connectKeystoneCatalog(creds)
      const services = await keystone.servicesOfType(wanted.type)
      const svcStep = planService(services, wanted)
      const others = services.filter((s) => s.name !== wanted.name)
      let serviceId: string | undefined
      const lines: string[] = []
      if (svcStep.kind === 'keep_service') {
        serviceId = svcStep.service.id
        lines.push(`kept service ${wanted.name} (${wanted.type}) ${serviceId}`)
      } else if (dryRun) {
        lines.push(`would create service ${wanted.name} (${wanted.type})`)
      } else {
        serviceId = (await keystone.createService({ name: wanted.name, type: wanted.type, description: 'Lazarus instance HA (Masakari v1 API)' })).id
        lines.push(`created service ${wanted.name} (${wanted.type}) ${serviceId}`)
      }
      const steps = planEndpoints(serviceId ? await keystone.endpointsOf(serviceId) : [], wanted)
      for (const s of steps) {
        if (!dryRun && serviceId) {
          if (s.kind === 'create') await keystone.createEndpoint({ serviceId, interface: s.interface, url: s.url, region: wanted.region })
          else if (s.kind === 'update') await keystone.updateEndpointUrl(s.id, s.url)
          else if (s.kind === 'delete') await keystone.deleteEndpoint(s.id)
        }
        lines.push(`${dryRun && s.kind !== 'keep' ? 'would have ' : ''}${describe(s)}`)
      }
      const changed = svcStep.kind === 'create_service' || steps.some((s) => s.kind !== 'keep')
      if (ctx.json) printJson(ctx, { service: { name: wanted.name, type: wanted.type, id: serviceId ?? null }, region: wanted.region, steps, changed, dryRun })
      else {
        for (const l of lines) ctx.io.out(l)
        ctx.io.out(changed ? (dryRun ? 'dry run: nothing written' : 'catalog updated') : 'catalog already up to date')
        if (others.length > 0) {
          ctx.io.err(
            `note: Keystone also has ${others.map((s) => `'${s.name ?? s.id}'`).join(', ')} of type ${wanted.type} (Masakari?): clients take the first one they find; remove it once Lazarus replaces it`,
          )
        }
      }
      return Exit.ok
    } catch (err) {
      if (err instanceof KeystoneError) throw new CliError(err.message, err.status === 401 || err.status === 403 ? Exit.auth : Exit.failed)
      throw new CliError(errorText(err), Exit.failed)
    }
  }

export const addKeystoneCommands = ({ program, action }: Program, env: Record<string, string | undefined>): void => {
  const keystone = group(program, 'keystone', "Keystone's catalog")
  command(keystone, 'register', "register the api's instance-ha endpoints in Keystone's catalog (idempotent)", DETAILS)
    .option('--public <url>', 'the public endpoint, e.g. https://lazarus.example:15868')
    .option('--internal <url>', 'the internal endpoint')
    .option('--admin <url>', 'the admin endpoint')
    .option('--region <name>', 'the region (default OS_REGION_NAME, else RegionOne)')
    .option('--name <name>', 'the service name (default lazarus)')
    .option('--type <type>', 'the service type (default instance-ha)')
    .option('--dry-run', 'say what would change, change nothing')
    .action(action(register(env)))
}
