import { Registry, collectDefaultMetrics, Counter, Histogram, Gauge } from 'prom-client'

export { Counter, Histogram, Gauge, Registry }

/** One registry per service, with Node's default process metrics, labelled by service. */
export const createMetrics = (service: string): Registry => {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry, prefix: 'lazarus_' })
  return registry
}
