/*
 * `lazarus nats-config`: the nats-server authorization that gives every part of Lazarus
 * its own NATS identity and no more rights than it uses. Pure: names and public keys in,
 * configuration text out; the command (commands/nats-config.ts) makes the keys and writes
 * the files.
 *
 * What each identity may do, from what the code does on NATS:
 * - agent `<host>` (services/agent): publishes its heartbeat on `<heartbeat prefix>.<host>`
 *   and nothing else; subscribes to nothing (so it cannot read other hosts' heartbeats).
 * - detector (services/detector): subscribes to `<heartbeat prefix>.>`; publishes and
 *   subscribes `<detector prefix>.host-down.>` (replicas share monitor reports); its
 *   leases are a JetStream KV bucket: the JetStream API calls on that bucket's stream
 *   `KV_<bucket>` and `$KV.<bucket>.>`; replies come to `_INBOX.>`.
 * - ingest (services/ingest, when a stream is given): a durable pull consumer on its
 *   stream (stream info, consumer create/info/next, acks) and the dead-letter subject.
 */

/** A host name that is safe as the last tokens of a subject and inside a config string: letters, digits, `-`, `_`, dot-separated parts. */
const HOST_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/
/** A subject prefix of plain tokens (no wildcards). */
const PREFIX_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/
/** Stream, durable and bucket names: JetStream's own rule, narrowed. */
const NAME_RE = /^[A-Za-z0-9_-]+$/

export class NatsConfigInputError extends Error {
  override name = 'NatsConfigInputError'
}

/**
 * Why a host name cannot be an agent identity, or undefined. Refused: wildcards (`*`, `>`:
 * a permission on them would let the agent speak for other hosts), spaces, empty parts
 * (`a..b`, a leading or trailing dot), quotes and anything else outside letters, digits,
 * `-`, `_` and the dots between parts. Dots are allowed: an FQDN is several subject tokens,
 * and a permission on an exact subject is exactly that subject.
 */
export const hostNameProblem = (host: string): string | undefined => {
  if (host.length === 0) return 'empty'
  if (host.length > 253) return 'longer than 253 characters'
  if (/[*>]/.test(host)) return "has a wildcard (`*` or `>`), which would widen the agent's subject"
  if (/\s/.test(host)) return 'has white space'
  if (/^\.|\.$|\.\./.test(host)) return 'has an empty dot-separated part'
  if (!HOST_RE.test(host)) return 'may hold only letters, digits, `-`, `_` and dots between them'
  return undefined
}

/** Hosts from flags and a file (one a line; `#` comments and blank lines skipped): checked, duplicates refused. */
export const parseHosts = (fromFlags: readonly string[], fileText?: string): string[] => {
  const names = [...fromFlags]
  if (fileText !== undefined) {
    for (const line of fileText.split('\n')) {
      const s = line.replace(/#.*/, '').trim()
      if (s !== '') names.push(s)
    }
  }
  if (names.length === 0) throw new NatsConfigInputError('no hosts: give --host (repeatable) or --hosts-file')
  const seen = new Set<string>()
  for (const h of names) {
    const why = hostNameProblem(h)
    if (why) throw new NatsConfigInputError(`host ${JSON.stringify(h)}: ${why}`)
    if (seen.has(h)) throw new NatsConfigInputError(`host ${h} is listed twice`)
    seen.add(h)
  }
  return names
}

export interface NatsConfigInput {
  /** Agent host → its nkey public key. */
  agents: readonly { host: string; publicKey: string }[]
  detector: { publicKey: string }
  ingest?: { publicKey: string; stream: string; durable: string; deadLetterSubject: string }
  /** An identity with every right, for an operator's tools (creating the ingest stream, inspecting). */
  admin?: { publicKey: string }
  heartbeatPrefix: string
  detectorPrefix: string
  leaseBucket: string
}

const check = (ok: boolean, what: string) => {
  if (!ok) throw new NatsConfigInputError(what)
}

/** Check the names that go into subjects and permissions. */
export const checkNames = (i: Omit<NatsConfigInput, 'agents' | 'detector' | 'ingest'> & { ingest?: { stream: string; durable: string; deadLetterSubject: string } }) => {
  check(PREFIX_RE.test(i.heartbeatPrefix), `heartbeat subject prefix ${JSON.stringify(i.heartbeatPrefix)}: plain dot-separated tokens (letters, digits, - and _), no wildcards`)
  check(PREFIX_RE.test(i.detectorPrefix), `detector subject prefix ${JSON.stringify(i.detectorPrefix)}: plain dot-separated tokens, no wildcards`)
  check(NAME_RE.test(i.leaseBucket), `lease bucket ${JSON.stringify(i.leaseBucket)}: letters, digits, - and _`)
  if (i.ingest) {
    check(NAME_RE.test(i.ingest.stream), `ingest stream ${JSON.stringify(i.ingest.stream)}: letters, digits, - and _`)
    check(NAME_RE.test(i.ingest.durable), `ingest durable ${JSON.stringify(i.ingest.durable)}: letters, digits, - and _`)
    check(PREFIX_RE.test(i.ingest.deadLetterSubject), `ingest dead-letter subject ${JSON.stringify(i.ingest.deadLetterSubject)}: plain tokens, no wildcards`)
  }
}

const NKEY_USER_RE = /^U[A-Z2-7]{55}$/

interface Permissions {
  publish: { allow?: string[]; deny?: string[] }
  subscribe: { allow?: string[]; deny?: string[] }
}

/** The permissions of each identity: also what the tests check against a real nats-server. */
export const permissionsFor = {
  agent: (host: string, heartbeatPrefix: string): Permissions => ({
    publish: { allow: [`${heartbeatPrefix}.${host}`] },
    subscribe: { deny: ['>'] },
  }),
  detector: (heartbeatPrefix: string, detectorPrefix: string, bucket: string): Permissions => {
    const stream = `KV_${bucket}`
    return {
      publish: {
        allow: [
          `${detectorPrefix}.host-down.>`,
          '$JS.API.INFO',
          `$JS.API.STREAM.CREATE.${stream}`,
          `$JS.API.STREAM.UPDATE.${stream}`,
          `$JS.API.STREAM.INFO.${stream}`,
          `$JS.API.STREAM.MSG.GET.${stream}`,
          `$JS.API.DIRECT.GET.${stream}`,
          `$JS.API.DIRECT.GET.${stream}.>`,
          `$KV.${bucket}.>`,
        ],
      },
      subscribe: { allow: [`${heartbeatPrefix}.>`, `${detectorPrefix}.host-down.>`, '_INBOX.>'] },
    }
  },
  ingest: (stream: string, durable: string, deadLetterSubject: string): Permissions => ({
    publish: {
      allow: [
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.${stream}`,
        `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
        `$JS.API.CONSUMER.CREATE.${stream}`,
        `$JS.API.CONSUMER.CREATE.${stream}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
        `$JS.ACK.${stream}.${durable}.>`,
        deadLetterSubject,
      ],
    },
    subscribe: { allow: ['_INBOX.>'] },
  }),
}

const q = (s: string) => JSON.stringify(s)
const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`
const perms = (p: Permissions, indent: string) => {
  const side = (name: string, s: { allow?: string[]; deny?: string[] }) =>
    `${indent}  ${name}: { ${[s.allow && `allow: ${list(s.allow)}`, s.deny && `deny: ${list(s.deny)}`].filter(Boolean).join(', ')} }`
  return [`${indent}permissions: {`, side('publish', p.publish), side('subscribe', p.subscribe), `${indent}}`].join('\n')
}

const user = (comment: string, publicKey: string, p: Permissions | undefined) => {
  check(NKEY_USER_RE.test(publicKey), `${comment}: ${publicKey} is not an nkey user public key`)
  return [`    # ${comment}`, '    {', `      nkey: ${q(publicKey)}`, ...(p ? [perms(p, '      ')] : []), '    }'].join('\n')
}

/**
 * The `authorization` block for nats-server: include it from the server's configuration
 * (`include lazarus-authorization.conf`). Every client must then present one of these
 * identities: anonymous connections are refused.
 */
export const renderNatsAuthorization = (i: NatsConfigInput): string => {
  checkNames(i)
  for (const a of i.agents) {
    const why = hostNameProblem(a.host)
    if (why) throw new NatsConfigInputError(`host ${JSON.stringify(a.host)}: ${why}`)
  }
  const users = [
    user('detector', i.detector.publicKey, permissionsFor.detector(i.heartbeatPrefix, i.detectorPrefix, i.leaseBucket)),
    ...(i.admin ? [user("admin: every right; for operators' tools, keep its seed off the compute hosts", i.admin.publicKey, undefined)] : []),
    ...(i.ingest ? [user('ingest', i.ingest.publicKey, permissionsFor.ingest(i.ingest.stream, i.ingest.durable, i.ingest.deadLetterSubject))] : []),
    ...i.agents.map((a) => user(`agent ${a.host}`, a.publicKey, permissionsFor.agent(a.host, i.heartbeatPrefix))),
  ]
  return [
    '# Generated by `lazarus nats-config`: one nkey identity per Lazarus part, each allowed only',
    '# what it uses. Regenerate it (the command keeps existing seeds) when hosts come and go.',
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n')
}
