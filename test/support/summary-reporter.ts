import type { Reporter, TestModule } from 'vitest/node'

/**
 * Ends the run with the line CI reads: `N passed, N failed`. A hook that fails (a suite's
 * `beforeAll`, a file that does not load) fails no test itself, its tests are skipped: it
 * counts as one failure, so that the line never reads "0 failed" for a run that failed.
 * CI runs `npm run lint` first and sets LAZARUS_LINT_FAILED=1 when it failed: that also
 * counts as one failure (.ci/run).
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const m of modules) {
      const before = failed
      for (const t of m.children.allTests()) {
        const state = t.result().state
        if (state === 'passed') passed++
        else if (state === 'failed') failed++
        else skipped++
      }
      for (const s of m.children.allSuites()) {
        const ownFailure = [...s.children.allTests()].some((t) => t.result().state === 'failed')
        if (s.state() === 'failed' && !ownFailure) failed++
      }
      if (m.state() === 'failed' && failed === before) failed++
    }
    if (process.env['LAZARUS_LINT_FAILED'] === '1') {
      failed++
      process.stdout.write('\nlint failed (npm run lint): counted as 1 failed\n')
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
  }
}
