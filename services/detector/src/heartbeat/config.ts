import { HostName } from '@lazarus/contracts'
import * as z from 'zod'

/**
 * When silence is enough to declare a host failed:
 * - `silence`: no heartbeat for the timeout;
 * - `silence+peers`: and at least `peers` live hosts report they cannot reach it either
 *   (their agents' peer probes, each for two heartbeat intervals in a row: peer-reports.ts),
 *   so a host cut off from NATS alone is not fenced;
 * - `silence+notification`: and an external monitor's COMPUTE_HOST notification for it
 *   arrived within `withinMs` (before or after the silence).
 */
export const EvidencePolicy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('silence') }),
  z.object({ kind: z.literal('silence+peers'), peers: z.number().int().min(1) }),
  z.object({ kind: z.literal('silence+notification'), withinMs: z.number().int().positive().default(60_000) }),
])
export type EvidencePolicy = z.infer<typeof EvidencePolicy>

/** What to do with a host that lost its management network but lives: fence it, leave it be, or alert an operator. */
export const IsolationResponse = z.enum(['fence', 'leave', 'alert'])
export type IsolationResponse = z.infer<typeof IsolationResponse>

const ms = () => z.number().int().positive()

/** A segment's heartbeat policy; every field optional here, filled from the defaults, then from the built-in defaults. */
export const SegmentPolicyInput = z
  .object({
    /** Silence before a host is suspected. Default: 3 × intervalMs + 500. */
    heartbeatTimeoutMs: ms(),
    evidence: EvidencePolicy,
    /** How long a suspected host may wait for the evidence before an `unconfirmed` alert. Default: the timeout. */
    evidenceWaitMs: ms(),
    isolationResponse: IsolationResponse,
    /** How long a host must report its management network lost before it is isolated. Default: the timeout. */
    isolationTimeoutMs: ms(),
    /** Read a silent host's storage heartbeat file (when the monitor has the directory). Default: true. */
    useStorageHeartbeat: z.boolean(),
    /** A storage heartbeat older than this (host clock vs ours) is not fresh. Default: the timeout. */
    storageFreshMs: ms(),
    /** How long a suspected host's decision waits for its storage heartbeat to be read. Default: 1000. */
    storageWaitMs: ms(),
    /** Storm guard: more hosts than this failing within the window pauses fencing. Default: 5. */
    maxConcurrentFailures: z.number().int().min(1),
    /** Storm guard: more than this fraction of the segment failing within the window pauses fencing. Default: 0.5. */
    maxFailedFraction: z.number().gt(0).max(1),
    /** Default: 120000. */
    stormWindowMs: ms(),
    /** A host silent this long counts as failing for the storm guard, before its timeout. Default: 2 × intervalMs. */
    lateAfterMs: ms(),
  })
  .partial()
  .strict()
export type SegmentPolicyInput = z.infer<typeof SegmentPolicyInput>
export type SegmentPolicy = Required<SegmentPolicyInput>

export const HeartbeatSegment = z
  .object({
    /** The segment's id (Masakari's segment uuid, or any unique name). */
    id: z.string().min(1),
    name: z.string().optional(),
    hosts: z.array(HostName),
    policy: SegmentPolicyInput.default({}),
  })
  .strict()
export type HeartbeatSegment = z.infer<typeof HeartbeatSegment>

export const HeartbeatMonitorConfig = z
  .object({
    /** The agents' heartbeat interval. */
    intervalMs: z.number().int().positive().default(1000),
    /** How often the monitor sweeps for silent hosts. */
    sweepMs: z.number().int().positive().default(100),
    /** A sweep later than this means the monitor itself stalled: decisions wait one interval. Default: max(1000, 5 × sweepMs). */
    stallMs: z.number().int().positive().optional(),
    defaults: SegmentPolicyInput.default({}),
    segments: z.array(HeartbeatSegment),
  })
  .strict()
  .superRefine((c, ctx) => {
    const hostSegment = new Map<string, string>()
    const ids = new Set<string>()
    c.segments.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['segments', i, 'id'], message: `segment ${s.id} is listed twice` })
      ids.add(s.id)
      for (const h of s.hosts) {
        const other = hostSegment.get(h)
        if (other !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['segments', i, 'hosts'], message: `host ${h} is in segments ${other} and ${s.id}` })
        }
        hostSegment.set(h, s.id)
      }
    })
  })
export type HeartbeatMonitorConfig = z.infer<typeof HeartbeatMonitorConfig>
export type HeartbeatMonitorConfigInput = z.input<typeof HeartbeatMonitorConfig>

/** Built-in defaults, then the config's defaults, then the segment's own policy. */
export const resolvePolicy = (intervalMs: number, defaults: SegmentPolicyInput, own: SegmentPolicyInput): SegmentPolicy => {
  const p = { ...defaults, ...own }
  const timeout = p.heartbeatTimeoutMs ?? 3 * intervalMs + 500
  return {
    heartbeatTimeoutMs: timeout,
    evidence: p.evidence ?? { kind: 'silence' },
    evidenceWaitMs: p.evidenceWaitMs ?? timeout,
    isolationResponse: p.isolationResponse ?? 'alert',
    isolationTimeoutMs: p.isolationTimeoutMs ?? timeout,
    useStorageHeartbeat: p.useStorageHeartbeat ?? true,
    storageFreshMs: p.storageFreshMs ?? timeout,
    storageWaitMs: p.storageWaitMs ?? 1000,
    maxConcurrentFailures: p.maxConcurrentFailures ?? 5,
    maxFailedFraction: p.maxFailedFraction ?? 0.5,
    stormWindowMs: p.stormWindowMs ?? 120_000,
    lateAfterMs: p.lateAfterMs ?? 2 * intervalMs,
  }
}
