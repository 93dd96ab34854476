import { pino, type Logger } from 'pino'

export type { Logger }

/** JSON logs on stdout; every line names the service. `LOG_LEVEL` sets the level. */
export const createLogger = (service: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger =>
  pino({ name: service, level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime })
