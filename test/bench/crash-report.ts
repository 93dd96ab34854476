/**
 * The crash benchmarks' shared shape (fencer-crash, detector-crash): cases run interleaved,
 * each run's wall time and the time no replica ran (`down`), and a table of medians, spreads
 * and what each crash added over the uncrashed runs' median (for `restart`, beyond `down`).
 */
export type CrashCase = 'no crash' | 'survivor' | 'restart'
export interface CrashRun {
  wall: number
  down: number
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))] as number
}

/** Run every case once per round, `runs` rounds, printing each run to stderr as it ends. */
export const runInterleaved = async <R extends CrashRun>(cases: readonly CrashCase[], runs: number, runOnce: (c: CrashCase) => Promise<R>): Promise<Map<CrashCase, R[]>> => {
  const results = new Map<CrashCase, R[]>(cases.map((c) => [c, []]))
  for (let r = 0; r < runs; r += 1) {
    for (const c of cases) {
      const one = await runOnce(c)
      results.get(c)?.push(one)
      process.stderr.write(`run ${r + 1} ${c}: ${(one.wall / 1000).toFixed(2)} s${one.down ? ` (down ${(one.down / 1000).toFixed(2)} s)` : ''}\n`)
    }
  }
  return results
}

/** Print the table and the target line (a crash adds ≤ 3 s); `downWhat` names what was down during `restart`. */
export const printCrashTable = (results: Map<CrashCase, CrashRun[]>, cases: readonly CrashCase[], header: string, downWhat: string): boolean => {
  const s = (ms: number) => (ms / 1000).toFixed(2)
  const base = quantile(
    (results.get('no crash') ?? []).map((x) => x.wall),
    0.5,
  )
  console.log(`\n${header}\n`)
  console.log('case        median (s)  min–max (s)    added (s)')
  let met = true
  for (const c of cases) {
    const xs = (results.get(c) ?? []).map((x) => x.wall)
    const added = quantile(
      (results.get(c) ?? []).map((x) => x.wall - base - x.down),
      0.5,
    )
    if (c !== 'no crash' && added > 3000) met = false
    console.log(
      `${c.padEnd(10)}  ${s(quantile(xs, 0.5)).padStart(10)}  ${`${s(Math.min(...xs))}–${s(Math.max(...xs))}`.padStart(11)}  ${c === 'no crash' ? '        —' : s(added).padStart(9)}`,
    )
  }
  console.log(`\ntarget (a crash adds ≤ 3 s; for restart, beyond the time no ${downWhat}): ${met ? 'met' : 'NOT met'}`)
  return met
}
