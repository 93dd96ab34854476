import { execFile, execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../support/processes.js'

/**
 * The Prometheus alert rules (infra/prometheus/lazarus-alerts.yml): valid for promtool,
 * firing as their test file says, and built only on metrics the services really export.
 */

const run = promisify(execFile)
const dir = join(repoRoot, 'infra/prometheus')
const promtool = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim()
  } catch {
    return ''
  }
})()
if (!promtool) process.stderr.write('test/prometheus: promtool checks skipped: promtool is missing (apt-get install prometheus; .ci/run installs it)\n')

describe('Prometheus alert rules', () => {
  it.skipIf(!promtool)('pass promtool check rules', async () => {
    const { stdout } = await run(promtool, ['check', 'rules', 'lazarus-alerts.yml'], { cwd: dir })
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/)
  })

  it.skipIf(!promtool)('fire as lazarus-alerts.test.yml expects (promtool test rules)', async () => {
    const { stdout } = await run(promtool, ['test', 'rules', 'lazarus-alerts.test.yml'], { cwd: dir })
    expect(stdout).toContain('SUCCESS')
  })

  it('cover a failed fence, the outbox lag, a stuck recovery and a paused segment, with metrics the services export', () => {
    const rules = readFileSync(join(dir, 'lazarus-alerts.yml'), 'utf8')
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1])
    expect(alerts).toEqual(expect.arrayContaining(['LazarusFenceFailed', 'LazarusOutboxLag', 'LazarusRecoveryStuck', 'LazarusSegmentPaused']))
    const sources = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? e.name === 'node_modules' || e.name === 'dist'
            ? []
            : sources(join(d, e.name))
          : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
            ? [join(d, e.name)]
            : [],
      )
    const code = [...sources(join(repoRoot, 'services')), ...sources(join(repoRoot, 'packages'))].map((f) => readFileSync(f, 'utf8')).join('\n')
    const exported = new Set([...code.matchAll(/name: '(lazarus_\w+)'/g)].map((m) => m[1]))
    const used = [...new Set([...rules.matchAll(/\b(lazarus_\w+)/g)].map((m) => m[1]!))]
    expect(used.length).toBeGreaterThan(3)
    expect(used.filter((m) => !exported.has(m))).toEqual([])
  })
})
