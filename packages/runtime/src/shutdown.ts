import type { Logger } from 'pino'
import { ConfigError } from './config.js'
import { errorText } from './errors.js'

/** SHUTDOWN_TIMEOUT_MS: how long a service may take to stop after SIGTERM (default 10 s). */
export const shutdownBoundMs = (env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env['SHUTDOWN_TIMEOUT_MS']
  if (raw === undefined || raw === '') return 10_000
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 100) throw new ConfigError(`SHUTDOWN_TIMEOUT_MS (shutdownTimeoutMs): a whole number of milliseconds ≥ 100 (got ${raw})`)
  return n
}

/** One thing to close at shutdown; `undefined` entries (a part the service runs without) are skipped. */
export type ShutdownStep = readonly [name: string, close: () => Promise<unknown> | unknown]

/**
 * Close `steps` one after the other, in the order given (stop intake first, then the
 * connections the work used). A step that fails is logged and the next ones still run.
 * Resolves true when every step closed cleanly.
 */
export const closeInOrder = async (log: Logger, steps: readonly (ShutdownStep | undefined)[]): Promise<boolean> => {
  let clean = true
  for (const step of steps) {
    if (!step) continue
    const [name, close] = step
    try {
      await close()
    } catch (err) {
      clean = false
      log.error({ err, step: name }, `error closing ${name} during shutdown`)
    }
  }
  return clean
}

/**
 * Stop cleanly on SIGTERM/SIGINT: close `steps` in order (`closeInOrder`), then exit 0, or
 * 1 when a step failed; and exit 1 after `boundMs` (SHUTDOWN_TIMEOUT_MS) whatever happens.
 * A second signal while stopping changes nothing. Every service's main.ts ends with this.
 */
export const onShutdown = (log: Logger, steps: readonly (ShutdownStep | undefined)[], boundMs = shutdownBoundMs()): void => {
  let stopping = false
  const handler = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      log.error({ boundMs }, 'shutdown took too long; exiting')
      process.exit(1)
    }, boundMs)
    timer.unref()
    closeInOrder(log, steps).then((clean) => process.exit(clean ? 0 : 1))
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}

/**
 * A service failed before it was up: say why and exit 1. With a logger, a fatal log line
 * (the process leaves 100 ms later, after the logger flushed, even if a connection keeps
 * the loop alive); without one (the settings were wrong, no logger yet), one line on stderr
 * naming the service: a ConfigError's message, else the stack.
 */
export const exitOnStartFailure = (service: string, err: unknown, log?: Logger): void => {
  if (log) {
    log.fatal({ err }, `${service} failed to start`)
    process.exitCode = 1
    setTimeout(() => process.exit(1), 100).unref()
    return
  }
  const message = err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : errorText(err)
  process.stderr.write(`${service}: ${message}\n`)
  process.exit(1)
}
