import type { Logger } from 'pino'
import { ConfigError } from './config.js'

/** SHUTDOWN_TIMEOUT_MS: how long a service may take to stop after SIGTERM (default 10 s). */
export const shutdownBoundMs = (env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env['SHUTDOWN_TIMEOUT_MS']
  if (raw === undefined || raw === '') return 10_000
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 100) throw new ConfigError(`SHUTDOWN_TIMEOUT_MS (shutdownTimeoutMs): a whole number of milliseconds ≥ 100 (got ${raw})`)
  return n
}

/**
 * Stop cleanly on SIGTERM/SIGINT: run `stop` (stop intake, finish or release work),
 * and exit within `boundMs` (SHUTDOWN_TIMEOUT_MS) whatever happens.
 */
export const onShutdown = (log: Logger, stop: () => Promise<void>, boundMs = shutdownBoundMs()): void => {
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
    stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        log.error({ err }, 'error during shutdown')
        process.exit(1)
      })
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}
