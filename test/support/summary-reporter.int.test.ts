import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const run = promisify(execFile)

/**
 * The summary reporter, run by a real vitest on files written for it: the count line CI adds
 * up, and above it each failure by name, so that the last lines of a long CI log say which
 * test failed.
 */
describe('summary reporter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazarus-summary-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('counts passed, failed and skipped tests and names each failure above the count line', async () => {
    // Globals, so that the files need no vitest of their own to import from.
    writeFileSync(
      join(dir, 'tests.test.js'),
      ["it('passes', () => {})", "describe('a suite', () => { it('fails here', () => { throw new Error('the reason\\nand more') }) })", "it.skip('is skipped', () => {})"].join(
        '\n',
      ),
    )
    writeFileSync(join(dir, 'hook.test.js'), "describe('with a hook', () => { beforeAll(() => { throw new Error('no broker') }); it('never runs', () => {}) })")
    writeFileSync(join(dir, 'broken.test.js'), 'this is not javascript (')
    const child = await run(
      process.execPath,
      [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--root', dir, '--globals', '--reporter', join(root, 'test/support/summary-reporter.ts')],
      { cwd: dir, timeout: 60_000 },
    ).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    )
    expect(child.code).toBe(1)
    const lines = child.stdout.trim().split('\n')
    const failed = lines.filter((l) => l.startsWith('FAILED: ')).sort()
    expect(failed).toEqual([
      expect.stringMatching(/^FAILED: broken\.test\.js \(the file\): \S/),
      'FAILED: hook.test.js > with a hook (a hook): no broker',
      'FAILED: tests.test.js > a suite > fails here: the reason',
    ])
    // The failures come just above the count line, which stays last.
    expect(lines.slice(-4, -1).every((l) => l.startsWith('FAILED: '))).toBe(true)
    expect(lines.at(-1)).toBe('1 passed, 3 failed, 2 skipped')
  })
})
