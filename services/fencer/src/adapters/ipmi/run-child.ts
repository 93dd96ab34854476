import { spawn, type ChildProcess } from 'node:child_process'

/** How a power tool run ended. */
export interface ChildResult {
  /** Exit code, or null when the process died from a signal (a timeout kill included). */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** The deadline passed and the process group was killed. */
  timedOut: boolean
  elapsedMs: number
}

export interface RunChildOptions {
  /** The child's whole environment (nothing of the fencer's is inherited unless given here). */
  env: NodeJS.ProcessEnv
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string
  timeoutMs: number
  /** Aborting it kills the run as its deadline would (it ends `timedOut`). */
  signal?: AbortSignal | undefined
  /** Output kept per stream; the rest is dropped. */
  maxOutputBytes?: number
}

/** After a kill, how long to wait for the pipes to close before giving up on them. */
const KILL_GRACE_MS = 2_000

/**
 * Run a power tool (ipmitool, a fence agent) with a deadline. The child leads its own
 * process group, so a timeout kills everything it started too (a fence agent runs
 * ipmitool, ssh, curl…), and nothing outlives the call once it has ended. Rejects only
 * when the program cannot be started at all (ENOENT, EACCES).
 */
export const runChild = (file: string, args: readonly string[], opts: RunChildOptions): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const max = opts.maxOutputBytes ?? 64 * 1024
    let child: ChildProcess
    try {
      child = spawn(file, [...args], {
        env: opts.env,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true,
      })
    } catch (err) {
      reject(err as Error)
      return
    }

    const out: Buffer[] = []
    const err: Buffer[] = []
    const collect = (into: Buffer[]) => {
      let size = 0
      return (chunk: Buffer) => {
        if (size >= max) return
        into.push(chunk.subarray(0, max - size))
        size += chunk.length
      }
    }
    child.stdout?.on('data', collect(out))
    child.stderr?.on('data', collect(err))

    let timedOut = false
    let settled = false
    let grace: NodeJS.Timeout | undefined

    const killGroup = () => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // the group is already gone
      }
    }

    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(grace)
      opts.signal?.removeEventListener('abort', expire)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        elapsedMs: Date.now() - started,
      })
    }

    const expire = () => {
      if (settled || timedOut) return
      timedOut = true
      killGroup()
      // A grandchild that left the group may still hold the pipes: do not wait on it forever.
      grace = setTimeout(() => finish(child.exitCode, child.signalCode), KILL_GRACE_MS)
    }
    const timer = setTimeout(expire, opts.timeoutMs)
    if (opts.signal?.aborted) setImmediate(expire)
    else opts.signal?.addEventListener('abort', expire, { once: true })

    child.once('error', (e) => {
      if (settled) return
      if (child.pid === undefined) {
        settled = true
        clearTimeout(timer)
        reject(e)
      }
    })
    // Whatever the tool left running in its group goes with it.
    child.once('exit', killGroup)
    child.once('close', (code, signal) => finish(code, signal))

    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        // the child exited without reading its input; its exit status tells the story
      })
      child.stdin.end(opts.input)
    }
  })

/** The lines of a tool's output worth showing an operator: trimmed, non-empty, once each, noise removed, bounded. */
export const detailOf = (text: string, noise: readonly RegExp[] = [], maxChars = 600): string => {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l, i, all) => l !== '' && !noise.some((n) => n.test(l)) && all.indexOf(l) === i)
  const joined = lines.join('; ')
  return joined.length > maxChars ? `…${joined.slice(joined.length - maxChars)}` : joined
}
