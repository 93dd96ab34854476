/** One progress entry as stored: what a service reported about one task of a recovery. */
export interface ProgressEntry {
  task: string
  state: 'running' | 'success' | 'failure' | 'skipped'
  progress: number
  message: string
  occurredAt: Date
}

export interface WorkflowDetail {
  name: string
  state: string
  progress: number
  progress_details: { timestamp: string; message: string; progress: string }[]
}

/** Masakari writes progress inside details as strings of floats: "0.0", "0.5", "1.0". */
const progressText = (p: number): string => (Number.isInteger(p) ? p.toFixed(1) : String(p))

/**
 * Masakari's `recovery_workflow_details`: one entry per task in the order tasks started,
 * each with the state and progress of its latest report and every report as a detail.
 * Entries are ordered by when they happened, not by when they arrived.
 */
export const buildWorkflowDetails = (entries: readonly ProgressEntry[]): WorkflowDetail[] => {
  const sorted = [...entries].sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime())
  const byTask = new Map<string, WorkflowDetail>()
  for (const e of sorted) {
    let detail = byTask.get(e.task)
    if (!detail) {
      detail = { name: e.task, state: '', progress: 0, progress_details: [] }
      byTask.set(e.task, detail)
    }
    detail.state = e.state.toUpperCase()
    detail.progress = e.progress
    detail.progress_details.push({ timestamp: e.occurredAt.toISOString(), message: e.message, progress: progressText(e.progress) })
  }
  return [...byTask.values()]
}
