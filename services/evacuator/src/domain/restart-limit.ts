/**
 * The restart-loop limit of instance failures (vSphere HA's "maximum resets per window"): a VM
 * that keeps failing is not restarted for ever. Each instance failure that is recovered
 * (stopped and started again) counts for its instance; once `limit` recoveries were admitted
 * within the last `windowMs`, the next failure of that instance is not restarted: the VM is
 * left stopped, the notification fails with `message`, and an alert is raised. The window
 * slides: once the oldest counted recovery is older than the window, a failure is recovered
 * again. A failure refused by the limit does not count. `limit` 0: no limit.
 *
 * The decision of one notification is recorded with it, so that a redelivery or a resumed
 * recovery keeps it rather than deciding again (the store, `instance-restarts.ts`).
 */
export interface RestartLimit {
  /** Recoveries of one instance admitted within the window; 0: no limit. */
  limit: number
  windowMs: number
}

export type RestartVerdict = { recover: true; counted: number } | { recover: false; counted: number; message: string }

const duration = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`)

/**
 * `admitted`: when the instance's earlier recoveries (other notifications) were admitted;
 * `now` on the same clock (the database's, shared by every evacuator replica).
 */
export const decideRestart = (input: { now: Date; admitted: readonly Date[]; rule: RestartLimit; instance: string }): RestartVerdict => {
  const { now, rule } = input
  const since = now.getTime() - rule.windowMs
  const counted = input.admitted.filter((t) => t.getTime() > since && t.getTime() <= now.getTime()).length
  if (rule.limit === 0 || counted < rule.limit) return { recover: true, counted }
  return {
    recover: false,
    counted,
    message: `instance ${input.instance} failed again after ${counted} recoveries within ${duration(rule.windowMs)} (INSTANCE_RESTART_LIMIT ${rule.limit} per INSTANCE_RESTART_WINDOW_MS ${rule.windowMs}): not restarted, left stopped for an operator`,
  }
}
