import * as z from 'zod'

/*
 * The host heartbeat: what `lazarus-agent` publishes on NATS (core pub/sub, not the
 * RabbitMQ bus) and the detector's heartbeat monitor reads.
 */

/** Heartbeats go to `<prefix>.<host>`; the detector subscribes to `<prefix>.>`. */
export const HEARTBEAT_SUBJECT_PREFIX = 'lazarus.heartbeat'

/**
 * A host name as it appears in a subject. Dots are allowed (FQDNs span several subject
 * tokens, which is why the detector subscribes with `>`, not `*`); wildcards, spaces and
 * empty tokens are not.
 */
export const HostName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\s*>.]+(\.[^\s*>.]+)*$/, 'a host name without spaces, `*`, `>` or empty dot-separated parts')

export const heartbeatSubject = (host: string, prefix = HEARTBEAT_SUBJECT_PREFIX): string => `${prefix}.${host}`

/*
 * Bounds. A heartbeat is read from a subject anyone with publish rights on it can write
 * to, so every field has a bound: lengths, counts, and times between 2020 and 2100 (an
 * epoch-ms value outside that is a broken clock or a forgery; the detector also checks
 * them against its own clock: services/detector/src/heartbeat/plausibility.ts).
 */
/** The longest error text a check carries; the agent cuts longer ones. */
export const HEARTBEAT_ERROR_MAX = 512
/** The most checks of one kind in a heartbeat (processes, targets, peers). */
export const HEARTBEAT_CHECKS_MAX = 256
const EPOCH_MS_MIN = Date.UTC(2020, 0, 1)
const EPOCH_MS_MAX = Date.UTC(2100, 0, 1)
const epochMs = () => z.number().int().min(EPOCH_MS_MIN).max(EPOCH_MS_MAX)
/** A run's id: the agent makes a uuid; printable, no spaces. */
const BootId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')

/** One probe's latest result. `ms` is how long it took (or the timeout, when it timed out). */
export const HeartbeatCheck = z.object({
  /** A process name, a host:port target, a peer's host name or the storage heartbeat file's path. */
  name: z.string().min(1).max(1024),
  ok: z.boolean(),
  ms: z.number().nonnegative().max(3_600_000),
  error: z.string().max(HEARTBEAT_ERROR_MAX).optional(),
})
export type HeartbeatCheck = z.infer<typeof HeartbeatCheck>

export const HeartbeatProbes = z.object({
  /** Local processes that must be running (nova-compute, libvirtd, ...). */
  processes: z.array(HeartbeatCheck).max(HEARTBEAT_CHECKS_MAX),
  /** TCP reachability of management-network targets. Empty: not probed. */
  management: z.array(HeartbeatCheck).max(HEARTBEAT_CHECKS_MAX),
  /** TCP reachability of storage-network targets. Empty: not probed. */
  storage: z.array(HeartbeatCheck).max(HEARTBEAT_CHECKS_MAX),
  /** The write of `<dir>/<host>.hb` on shared storage; null when not configured. */
  storageHeartbeat: HeartbeatCheck.nullable(),
  /** TCP reachability of peer hosts; `name` is the peer's host name. */
  peers: z.array(HeartbeatCheck).max(HEARTBEAT_CHECKS_MAX),
})
export type HeartbeatProbes = z.infer<typeof HeartbeatProbes>

export const HeartbeatV1 = z.object({
  v: z.literal(1),
  host: HostName,
  /** Identifies this run of the agent (a uuid made at start): a new one means it restarted. */
  bootId: BootId,
  /** When this run of the agent started, epoch ms (the host's clock); not after `sentAt`. */
  startedAt: epochMs(),
  /** Counts heartbeats of this run from 0; with bootId it identifies one heartbeat. */
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** When this heartbeat was sent, epoch ms (the host's clock). */
  sentAt: epochMs(),
  /** The agent's heartbeat interval (the agent's own bounds: 50 ms to 1 h). */
  intervalMs: z.number().int().min(50).max(3_600_000),
  probes: HeartbeatProbes,
})
export type HeartbeatV1 = z.infer<typeof HeartbeatV1>

/** The content of `<dir>/<host>.hb`, rewritten by the agent at every heartbeat. */
export const StorageHeartbeatFile = z.object({
  host: HostName,
  bootId: BootId,
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** When it was written, epoch ms (the host's clock). */
  at: epochMs(),
})
export type StorageHeartbeatFile = z.infer<typeof StorageHeartbeatFile>

export const storageHeartbeatFileName = (host: string): string => `${host}.hb`

/** The host reports that it reaches none of its management targets (and it has some). */
export const reportsManagementLost = (hb: HeartbeatV1): boolean => hb.probes.management.length > 0 && hb.probes.management.every((c) => !c.ok)

/** The peers this host reports it cannot reach. */
export const unreachablePeers = (hb: HeartbeatV1): string[] => {
  const out: string[] = []
  for (const c of hb.probes.peers) if (!c.ok) out.push(c.name)
  return out
}
