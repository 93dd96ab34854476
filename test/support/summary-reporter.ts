import type { Reporter, TestModule } from 'vitest/node'

/** The first line of an error's message, cut to a length a log's tail can show. */
function firstLine(message: string | undefined): string {
  const line = (message ?? '').split('\n', 1)[0].trim()
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}

/**
 * Ends the run with the line CI reads: `N passed, N failed`. A hook that fails (a suite's
 * `beforeAll`, a file that does not load) fails no test itself, its tests are skipped: it
 * counts as one failure, so that the line never reads "0 failed" for a run that failed.
 * Each failure is named just above that line (`FAILED: file > test: message`), so that the
 * last lines of a long log say which test failed; `.ci/run` repeats them at its end.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let skipped = 0
    /** One line per failure: their number is the count of failures. */
    const named: string[] = []
    for (const m of modules) {
      const before = named.length
      const file = m.relativeModuleId
      for (const t of m.children.allTests()) {
        const result = t.result()
        if (result.state === 'passed') passed++
        else if (result.state === 'failed') named.push(`${file} > ${t.fullName}: ${firstLine(result.errors[0]?.message)}`)
        else skipped++
      }
      for (const s of m.children.allSuites()) {
        const ownFailure = [...s.children.allTests()].some((t) => t.result().state === 'failed')
        if (s.state() === 'failed' && !ownFailure) named.push(`${file} > ${s.fullName} (a hook): ${firstLine(s.errors()[0]?.message)}`)
      }
      if (m.state() === 'failed' && named.length === before) named.push(`${file} (the file): ${firstLine(m.errors()[0]?.message)}`)
    }
    const list = named.map((line) => `FAILED: ${line}\n`).join('')
    process.stdout.write(`\n${list}${passed} passed, ${named.length} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
  }
}
