import { chmod, mkdir, open, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createNkeyUser, nkeyUserPublicKey } from '@lazarus/runtime'
import { collect, command, printJson, requireStr, str, type Program, type Run } from '../cli.js'
import { usageError } from '../errors.js'
import { checkNames, NatsConfigInputError, parseHosts, renderNatsAuthorization } from '../nats-config.js'

const DETAILS = `Writes into --out:
  lazarus-authorization.conf   the nats-server authorization block: include it from the server's configuration
  agents/<host>.nk             each agent's nkey seed (mode 0600): NATS_NKEY_SEED_FILE of lazarus-agent on <host>
  detector.nk, ingest.nk       the detector's and the ingest service's seeds (NATS_NKEY_SEED_FILE)
  admin.nk                     with --admin: every right, for operators' tools (nats --nkey admin.nk)
  identities.json              who is who: the public keys
Each agent may publish only lazarus.heartbeat.<its host> and subscribe to nothing; the
detector reads heartbeats, shares host-down reports and keeps its leases in its JetStream
KV bucket; ingest (with --ingest-stream) consumes its stream. Existing seeds in --out are
kept, so rerunning with a new host list adds and removes agents without changing the others.`

/** A seed file: the existing one is kept (and made 0600), else a new identity is written with mode 0600. */
const identity = async (path: string): Promise<{ publicKey: string; created: boolean }> => {
  let existing: string | undefined
  try {
    existing = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw usageError(`cannot read ${path}: ${(err as Error).message}`)
  }
  if (existing !== undefined) {
    let publicKey: string
    try {
      publicKey = nkeyUserPublicKey(existing)
    } catch {
      throw usageError(`${path} exists but holds no nkey user seed; move it away or fix it`)
    }
    await chmod(path, 0o600)
    return { publicKey, created: false }
  }
  const user = createNkeyUser()
  // `wx`: never write through a file (or link) that appeared meanwhile.
  const fh = await open(path, 'wx', 0o600)
  try {
    await fh.writeFile(`${user.seed}\n`)
  } finally {
    await fh.close()
  }
  return { publicKey: user.publicKey, created: true }
}

const natsConfig: Run = async (ctx, _args, opts) => {
  const out = requireStr(opts, 'out', 'the directory to write the configuration and the seeds into')
  const hostsFile = str(opts, 'hosts-file')
  const ingestStream = str(opts, 'ingest-stream')
  const names = {
    heartbeatPrefix: str(opts, 'heartbeat-prefix') ?? 'lazarus.heartbeat',
    detectorPrefix: str(opts, 'detector-prefix') ?? 'lazarus.detector',
    leaseBucket: str(opts, 'lease-bucket') ?? 'lazarus_detector_leases',
    ...(ingestStream !== undefined && {
      ingest: {
        stream: ingestStream,
        durable: str(opts, 'ingest-durable') ?? 'lazarus-ingest',
        deadLetterSubject: str(opts, 'ingest-dead-letter-subject') ?? 'lazarus.ingest.dead-letter',
      },
    }),
  }
  let hosts: string[]
  try {
    let fileText: string | undefined
    if (hostsFile !== undefined) {
      try {
        fileText = await readFile(hostsFile, 'utf8')
      } catch (err) {
        throw usageError(`--hosts-file ${hostsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
    }
    hosts = parseHosts((opts['host'] as string[] | undefined) ?? [], fileText)
    checkNames(names)
  } catch (err) {
    if (err instanceof NatsConfigInputError) throw usageError(err.message)
    throw err
  }

  await mkdir(join(out, 'agents'), { recursive: true, mode: 0o700 })
  await chmod(out, 0o700)
  await chmod(join(out, 'agents'), 0o700)
  const agents: { host: string; publicKey: string; created: boolean }[] = []
  for (const host of hosts) agents.push({ host, ...(await identity(join(out, 'agents', `${host}.nk`))) })
  const detector = await identity(join(out, 'detector.nk'))
  const ingest = names.ingest && { ...names.ingest, ...(await identity(join(out, 'ingest.nk'))) }
  const admin = opts['admin'] === true ? await identity(join(out, 'admin.nk')) : undefined

  const { ingest: _names, ...common } = names
  const conf = renderNatsAuthorization({ ...common, agents, detector, ...(ingest && { ingest }), ...(admin && { admin }) })
  await writeFile(join(out, 'lazarus-authorization.conf'), conf, { mode: 0o644 })
  const identities = {
    detector: { publicKey: detector.publicKey, seedFile: 'detector.nk' },
    ...(ingest && { ingest: { publicKey: ingest.publicKey, seedFile: 'ingest.nk' } }),
    ...(admin && { admin: { publicKey: admin.publicKey, seedFile: 'admin.nk' } }),
    agents: Object.fromEntries(agents.map((a) => [a.host, { publicKey: a.publicKey, seedFile: `agents/${a.host}.nk` }])),
  }
  await writeFile(join(out, 'identities.json'), `${JSON.stringify(identities, null, 2)}\n`, { mode: 0o644 })

  if (ctx.json) {
    printJson(ctx, identities)
    return 0
  }
  const created = agents.filter((a) => a.created).length
  ctx.io.out(`wrote ${join(out, 'lazarus-authorization.conf')}: ${agents.length} agents (${created} new), the detector${ingest ? ', ingest' : ''}${admin ? ', admin' : ''}`)
  ctx.io.out(`seeds (mode 0600) under ${out}: copy agents/<host>.nk to each host and point NATS_NKEY_SEED_FILE at it`)
  ctx.io.out(`in nats-server.conf: include ${join(out, 'lazarus-authorization.conf')}`)
  return 0
}

export const addNatsConfigCommand = ({ program, action }: Program): void => {
  command(program, 'nats-config', 'generate nats-server authorization with one NATS identity per agent, the detector and ingest', DETAILS)
    .option('--host <name>', 'a compute host (as Nova and the api know it); repeatable', collect)
    .option('--hosts-file <file>', 'compute hosts, one a line (# comments)')
    .option('--out <dir>', 'where to write the configuration and the seeds (created with mode 0700)')
    .option('--heartbeat-prefix <prefix>', "the agents' SUBJECT_PREFIX (default lazarus.heartbeat)")
    .option('--detector-prefix <prefix>', "the detector's DETECTOR_SUBJECT_PREFIX (default lazarus.detector)")
    .option('--lease-bucket <name>', "the detector's LEASE_BUCKET (default lazarus_detector_leases)")
    .option('--ingest-stream <name>', 'make an ingest identity consuming this JetStream stream (NATS_STREAM)')
    .option('--ingest-durable <name>', 'the ingest consumer (NATS_DURABLE, default lazarus-ingest)')
    .option('--ingest-dead-letter-subject <subject>', 'NATS_DEAD_LETTER_SUBJECT (default lazarus.ingest.dead-letter)')
    .option('--admin', "also an identity with every right (admin.nk), for operators' tools: creating the ingest stream, inspecting")
    .action(action(natsConfig))
}
