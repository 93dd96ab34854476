import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { dirname, resolve } from 'node:path'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/**
 * pnpm as the repository pins it (the root package.json's `packageManager`), through npx as
 * the README runs it: `execFile(...pnpm('run', '--silent', 'bundle:agent'), { cwd: repoRoot })`.
 */
export const pnpm = (...args: string[]): [string, string[]] => {
  const { packageManager } = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as { packageManager: string }
  return ['npx', ['-y', packageManager, ...args]]
}

export interface RunningProcess {
  name: string
  child: ChildProcess
  /** Every line the process wrote, stdout and stderr, for failure reports. */
  lines: string[]
  /** Resolves with the first line that matches. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Start `node <script>` from the repo root, capturing its output line by line.
 * `LAZARUS_CHILD_NODE_ARGS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) adds node flags
 * to every child, for profiling a service under a bench.
 */
export const startNode = (
  name: string,
  script: string,
  env: Record<string, string>,
  /**
   * `cwd` (default: the repo root); `bareEnv`: only `env` and PATH, nothing inherited (no NODE_PATH, NODE_OPTIONS); `nodeArgs`: node flags; `args`: the script's arguments;
   * `netns`: run it in that network namespace (`ip netns exec`, which execs node: the child's pid is node's).
   */
  opts: { cwd?: string; bareEnv?: boolean; nodeArgs?: string[]; args?: string[]; netns?: string } = {},
): RunningProcess => {
  const nodeArgs = [...(opts.nodeArgs ?? []), ...(process.env['LAZARUS_CHILD_NODE_ARGS'] ?? '').split(' ').filter(Boolean)]
  const argv = [...nodeArgs, resolve(repoRoot, script), ...(opts.args ?? [])]
  const [cmd, args] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, process.execPath, ...argv]] : [process.execPath, argv]
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? repoRoot,
    env: opts.bareEnv ? { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } : { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = []
  const onLine = (line: string) => {
    lines.push(line)
    if (process.env['E2E_VERBOSE']) process.stderr.write(`[${name}] ${line}\n`)
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  }
  createInterface({ input: child.stdout! }).on('line', onLine)
  createInterface({ input: child.stderr! }).on('line', onLine)
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return {
    name,
    child,
    lines,
    waitForLine(pattern, timeoutMs = 30_000) {
      const seen = lines.find((l) => pattern.test(l))
      if (seen) return Promise.resolve(seen)
      return new Promise((res, rej) => {
        const timer = setTimeout(() => {
          rej(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; last output:\n${lines.slice(-20).join('\n')}`))
        }, timeoutMs)
        const waiter = {
          pattern,
          resolve: (l: string) => {
            clearTimeout(timer)
            res(l)
          },
        }
        waiters.push(waiter)
        void exited.then((code) => {
          if (waiters.includes(waiter)) {
            clearTimeout(timer)
            rej(new Error(`${name} exited (${code}) before printing ${pattern}; output:\n${lines.slice(-30).join('\n')}`))
          }
        })
      })
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/** Poll `check` until it returns a value that is not undefined, or fail after `timeoutMs`. */
export const eventually = async <T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, intervalMs = 100): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
