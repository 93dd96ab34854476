import type { Logger } from 'pino'

/**
 * Stop cleanly on SIGTERM/SIGINT: run `stop` (stop intake, finish or release work),
 * and exit within `boundMs` whatever happens.
 */
export const onShutdown = (log: Logger, stop: () => Promise<void>, boundMs = 10_000): void => {
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
