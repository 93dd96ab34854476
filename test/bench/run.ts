/*
 * Runs every benchmark in turn, each as its own process, after `pnpm run build`:
 *   pnpm run bench                       # all of them, each with its own default number of runs
 *   pnpm run bench -- fencer evacuation  # only those named
 *   pnpm run bench -- --runs 5
 * Each benchmark prints its own figures, medians and ratios against its target. The
 * side-by-side benchmark needs the real OpenStack of infra/openstack-box (up.sh) and
 * takes ~15 min with Masakari's defaults, so it runs only when named.
 */
import { spawnSync } from 'node:child_process'
import { parseArgs } from 'node:util'
import { repoRoot } from '../support/processes.js'

const BENCHES = ['fencer', 'evacuation', 'evacuator-crash', 'fencer-crash', 'detector-crash', 'api-notifications', 'detector-heartbeats', 'agent-footprint', 'planner'] as const
const OPT_IN = ['side-by-side'] as const

const { values, positionals } = parseArgs({ options: { runs: { type: 'string' } }, allowPositionals: true })
const known = [...BENCHES, ...OPT_IN] as readonly string[]
const unknown = positionals.filter((p) => !known.includes(p))
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; choose from ${known.join(', ')}\n`)
  process.exit(2)
}
const chosen = positionals.length > 0 ? positionals : [...BENCHES]
let failed = 0
for (const name of chosen) {
  process.stdout.write(`\n=== ${name}\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', `test/bench/${name}.ts`, ...(values.runs ? ['--runs', values.runs] : [])], {
    cwd: repoRoot,
    stdio: 'inherit',
  })
  if (r.status !== 0) failed++
}
process.exit(failed > 0 ? 1 : 0)
