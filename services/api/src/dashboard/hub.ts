import type { Logger } from '@lazarus/runtime'

export interface SnapshotHub {
  /** Receive the current snapshot (JSON) at once if there is one, then every change. Returns the unsubscribe. */
  subscribe(listener: (json: string) => void): () => void
  /** The current snapshot, built now if no stream keeps it fresh. */
  current(): Promise<string>
  /** Stop polling (streams end on their own when their connections close). */
  close(): void
}

/**
 * One poller for every dashboard stream: while anyone listens, it rebuilds the snapshot
 * every `intervalMs` and hands it to each listener when it changed. Reading the database
 * (rather than in-process signals) also shows changes made through other api replicas.
 */
export const createSnapshotHub = (build: () => Promise<unknown>, opts: { intervalMs: number; log: Logger }): SnapshotHub => {
  const listeners = new Set<(json: string) => void>()
  let last: string | undefined
  let running = false
  let closed = false
  let timer: NodeJS.Timeout | undefined

  const refresh = async (): Promise<string> => {
    const json = JSON.stringify(await build())
    if (json !== last) {
      last = json
      for (const l of listeners) l(json)
    }
    return json
  }

  const loop = async () => {
    if (running) return
    running = true
    try {
      while (listeners.size > 0 && !closed) {
        try {
          await refresh()
        } catch (err) {
          if (!closed) opts.log.warn({ err }, 'dashboard snapshot failed; retrying')
        }
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, opts.intervalMs)
          timer.unref()
        })
      }
    } finally {
      running = false
      // Nobody listens: the next stream must not start from a stale snapshot.
      last = undefined
    }
  }

  return {
    subscribe(listener) {
      listeners.add(listener)
      if (last !== undefined) listener(last)
      void loop()
      return () => void listeners.delete(listener)
    },
    // Without a stream to keep it fresh, build one now and keep nothing: a later stream
    // starts from its own first build, not from this one.
    current: async () => (running && last !== undefined ? last : JSON.stringify(await build())),
    close() {
      closed = true
      clearTimeout(timer)
      listeners.clear()
    },
  }
}
