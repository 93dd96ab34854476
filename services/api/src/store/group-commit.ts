/**
 * Group commit: items submitted while a batch is being written queue up, and the next batch
 * takes all of them (up to `maxBatch`). Under load one transaction answers many requests;
 * an item submitted alone goes at once, with no added wait.
 *
 * `run` answers each item of a batch in order: a result, or an Error for that item alone.
 * If `run` itself throws, every item of the batch gets that error.
 */
export interface GroupCommit<I, O> {
  submit(item: I): Promise<O>
}

export const createGroupCommit = <I, O>(run: (items: I[]) => Promise<readonly (O | Error)[]>, opts: { maxBatch: number; concurrency: number }): GroupCommit<I, O> => {
  const queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = []
  let active = 0

  const pump = () => {
    while (active < opts.concurrency && queue.length > 0) {
      const batch = queue.splice(0, opts.maxBatch)
      active += 1
      run(batch.map((b) => b.item))
        .then(
          (results) => {
            for (const [i, b] of batch.entries()) {
              const r = results[i]
              if (r === undefined) b.reject(new Error('group commit: no result for an item'))
              else if (r instanceof Error) b.reject(r)
              else b.resolve(r)
            }
          },
          (err: unknown) => {
            for (const b of batch) b.reject(err)
          },
        )
        .finally(() => {
          active -= 1
          pump()
        })
    }
  }

  return {
    submit: (item) =>
      new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject })
        pump()
      }),
  }
}
