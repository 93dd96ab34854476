/*
 * kdump-aware fencing (InstanceHA's CHECK_KDUMP): a host whose kernel crashed may be writing
 * its crash dump, and announces it with fence_kdump_send (fence-agents) every few seconds.
 * Powering it off would lose the dump; the host can do no harm meanwhile (only the kdump
 * kernel runs). So the power off waits while the host keeps announcing, and goes ahead once
 * the announcements stop (the dump ended and the host reboots), once none came within the
 * grace at the start, or once the deadline passed. Pure: time and messages are passed in.
 */

/** fence_kdump's message: two 32-bit words in the sender's byte order, the magic number then the version. */
export const KDUMP_MAGIC = 0x1b302a40
export const KDUMP_VERSION = 1

/** Whether a UDP payload is a fence_kdump message (version 1), in either byte order. */
export const isKdumpMessage = (msg: Uint8Array): boolean => {
  if (msg.length !== 8) return false
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  for (const little of [true, false]) {
    if (view.getUint32(0, little) === KDUMP_MAGIC && view.getUint32(4, little) === KDUMP_VERSION) return true
  }
  return false
}

export interface KdumpWait {
  /** When the fence started waiting for the host's announcements (ms). */
  startedAt: number
  /** The last announcement received from the host's address (ms), if any. */
  lastMessageAt: number | undefined
  now: number
  /** Silence after which a dump counts as ended; also the grace for a first announcement. */
  idleMs: number
  /** The longest a power off waits for a dump. */
  maxWaitMs: number
}

export type KdumpDecision = { kind: 'wait'; dumping: boolean; untilMs: number } | { kind: 'power_off'; why: 'no_dump' | 'dump_ended' | 'deadline' }

/** Whether to power the host off now, or wait (and until when, at most, before asking again). */
export const decideKdump = (w: KdumpWait): KdumpDecision => {
  const deadline = w.startedAt + w.maxWaitMs
  const heard = w.lastMessageAt !== undefined && w.lastMessageAt >= w.startedAt - w.idleMs
  const dumping = heard && (w.lastMessageAt as number) + w.idleMs > w.now
  if (w.now >= deadline) return { kind: 'power_off', why: heard && dumping ? 'deadline' : heard ? 'dump_ended' : 'no_dump' }
  if (dumping) return { kind: 'wait', dumping: true, untilMs: Math.min((w.lastMessageAt as number) + w.idleMs, deadline) }
  if (heard) return { kind: 'power_off', why: 'dump_ended' }
  const grace = w.startedAt + w.idleMs
  if (w.now < grace) return { kind: 'wait', dumping: false, untilMs: Math.min(grace, deadline) }
  return { kind: 'power_off', why: 'no_dump' }
}
