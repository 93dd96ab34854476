export interface ItemOutcome {
  instance: { id: string; name: string }
  status: 'succeeded' | 'failed'
  destHost: string | null
  reason: string | null
}

export interface RecoveryOutcome {
  status: 'finished' | 'failed'
  message: string
  moved: { instance: { id: string; name: string }; destHost: string }[]
  failed: { instance: { id: string; name: string }; reason: string }[]
}

/** The end of a recovery once every item is final: `finished` only if every instance moved. */
export const summarizeRecovery = (sourceHost: string, items: readonly ItemOutcome[]): RecoveryOutcome => {
  const moved = items.filter((i) => i.status === 'succeeded').map((i) => ({ instance: i.instance, destHost: i.destHost ?? '' }))
  const failed = items.filter((i) => i.status === 'failed').map((i) => ({ instance: i.instance, reason: i.reason ?? 'unknown' }))
  const status = failed.length === 0 ? 'finished' : 'failed'
  const message =
    failed.length === 0
      ? `evacuated all ${moved.length} instance(s) of ${sourceHost}`
      : `evacuated ${moved.length} of ${items.length} instance(s) of ${sourceHost}; failed: ${failed.map((f) => `${f.instance.name} (${f.instance.id}): ${f.reason}`).join('; ')}`
  return { status, message, moved, failed }
}
