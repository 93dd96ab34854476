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

/** One probe's latest result. `ms` is how long it took (or the timeout, when it timed out). */
export const HeartbeatCheck = z.object({
  name: z.string(),
  ok: z.boolean(),
  ms: z.number().nonnegative(),
  error: z.string().optional(),
})
export type HeartbeatCheck = z.infer<typeof HeartbeatCheck>

export const HeartbeatProbes = z.object({
  /** Local processes that must be running (nova-compute, libvirtd, ...). */
  processes: z.array(HeartbeatCheck),
  /** TCP reachability of management-network targets. Empty: not probed. */
  management: z.array(HeartbeatCheck),
  /** TCP reachability of storage-network targets. Empty: not probed. */
  storage: z.array(HeartbeatCheck),
  /** The write of `<dir>/<host>.hb` on shared storage; null when not configured. */
  storageHeartbeat: HeartbeatCheck.nullable(),
  /** TCP reachability of peer hosts; `name` is the peer's host name. */
  peers: z.array(HeartbeatCheck),
})
export type HeartbeatProbes = z.infer<typeof HeartbeatProbes>

export const HeartbeatV1 = z.object({
  v: z.literal(1),
  host: HostName,
  /** Identifies this run of the agent (a uuid made at start): a new one means it restarted. */
  bootId: z.string().min(1).max(64),
  /** When this run of the agent started, epoch ms (the host's clock). */
  startedAt: z.number().int().nonnegative(),
  /** Counts heartbeats of this run from 0; with bootId it orders them. */
  seq: z.number().int().nonnegative(),
  /** When this heartbeat was sent, epoch ms (the host's clock). */
  sentAt: z.number().int().nonnegative(),
  /** The agent's heartbeat interval. */
  intervalMs: z.number().int().positive(),
  probes: HeartbeatProbes,
})
export type HeartbeatV1 = z.infer<typeof HeartbeatV1>

/** The content of `<dir>/<host>.hb`, rewritten by the agent at every heartbeat. */
export const StorageHeartbeatFile = z.object({
  host: HostName,
  bootId: z.string(),
  seq: z.number().int().nonnegative(),
  /** When it was written, epoch ms (the host's clock). */
  at: z.number().int().nonnegative(),
})
export type StorageHeartbeatFile = z.infer<typeof StorageHeartbeatFile>

export const storageHeartbeatFileName = (host: string): string => `${host}.hb`

/** The host reports that it reaches none of its management targets (and it has some). */
export const reportsManagementLost = (hb: HeartbeatV1): boolean =>
  hb.probes.management.length > 0 && hb.probes.management.every((c) => !c.ok)

/** The peers this host reports it cannot reach. */
export const unreachablePeers = (hb: HeartbeatV1): string[] => {
  const out: string[] = []
  for (const c of hb.probes.peers) if (!c.ok) out.push(c.name)
  return out
}
