import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './processes.js'

/** The previous released build: main's commit before the upgrade work (override: LAZARUS_PREVIOUS_BUILD). */
export const PREVIOUS_RELEASE = process.env['LAZARUS_PREVIOUS_BUILD'] ?? '7db04e9'

const MARKER = '.lazarus-built'

/**
 * A built checkout of `rev` (`git archive` of this repository's commit, installed with its own package manager, `tsc -b`),
 * cached in ~/.cache/lazarus/previous-build/<sha> across runs (the first build takes minutes).
 * Built in a temporary directory and renamed once complete, so an interrupted build is not reused.
 */
export const previousBuild = (rev: string = PREVIOUS_RELEASE): { dir: string; sha: string } => {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], { cwd: repoRoot, encoding: 'utf8' }).trim()
  const cacheRoot = process.env['LAZARUS_BUILD_CACHE'] ?? join(homedir(), '.cache', 'lazarus', 'previous-build')
  const dir = join(cacheRoot, sha)
  if (existsSync(join(dir, MARKER))) return { dir, sha }
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  const archive = execFileSync('git', ['archive', '--format=tar', sha], { cwd: repoRoot, maxBuffer: 1 << 30 })
  execFileSync('tar', ['-x', '-C', tmp], { input: archive })
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'], timeout: 15 * 60_000 })
  // Installed the way that commit installs: its own pnpm (packageManager) or, before the pnpm workspace, npm ci.
  const { packageManager } = JSON.parse(readFileSync(join(tmp, 'package.json'), 'utf8')) as { packageManager?: string }
  if (packageManager?.startsWith('pnpm@')) run('npx', ['-y', packageManager, 'install', '--frozen-lockfile'])
  else run('npm', ['ci', '--no-audit', '--no-fund'])
  run('npx', ['tsc', '-b'])
  writeFileSync(join(tmp, MARKER), `${new Date().toISOString()}\n`)
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return { dir, sha }
}
