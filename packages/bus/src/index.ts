import type { Bus } from './bus.js'
import { createInProcessBus } from './in-process.js'
import { createRabbitBus, type RabbitBusOptions } from './rabbit/rabbit-bus.js'
import { amqpTlsFromEnv } from './rabbit/tls.js'

export * from './bus.js'
export * from './errors.js'
export { createInProcessBus, type InProcessBusOptions } from './in-process.js'
export { createRabbitBus, type RabbitBusEvent, type RabbitBusOptions } from './rabbit/rabbit-bus.js'
export { currentTraceHeaders, traceHeadersOf, withDeliverySpan, withPublishSpan, withTraceContext, type TraceHeaders } from './trace-context.js'
export { matchesTopic } from './topic-match.js'
export { RETRY_EXCHANGE, names as brokerNames, type Names } from './rabbit/names.js'
export { declareTopology } from './rabbit/declare.js'
export { AMQP_TLS_SETTINGS, amqpTlsFromEnv, checkAmqpTls, tlsSocketOptions, type AmqpTls, type TlsSocketOptions } from './rabbit/tls.js'
export { allServicePermissions, servicePermissions, type ServicePermissions, type TopicPermissions, type VhostPermissions } from './rabbit/permissions.js'

/**
 * The bus for a service: RabbitMQ when `url` is an amqp:// or amqps:// URL (`AMQP_URL`),
 * the in-process bus when it is undefined (the embedded default). TLS files come from
 * AMQP_TLS_CA_FILE / AMQP_TLS_CERT_FILE / AMQP_TLS_KEY_FILE unless `options.tls` says.
 */
export const createBus = async (url: string | undefined, options: Omit<RabbitBusOptions, 'url'> = {}): Promise<Bus> => {
  if (url === undefined || url === '') return createInProcessBus(options.queues ? { queues: options.queues } : {})
  // Several nodes of one cluster: comma-separated URLs, tried in turn.
  const urls = url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '')
  for (const u of urls) {
    if (!/^amqps?:\/\//i.test(u)) throw new Error(`unsupported bus URL ${redact(u)}: expected amqp:// or amqps://`)
  }
  return createRabbitBus({ ...options, url: urls, tls: options.tls ?? amqpTlsFromEnv() })
}

const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, '//***@')
