import { performance } from 'node:perf_hooks'
import { Registry, collectDefaultMetrics, Counter, Histogram, Gauge } from 'prom-client'

export { Counter, Histogram, Gauge, Registry }

/** One registry per service, with Node's default process metrics, labelled by service. */
export const createMetrics = (service: string): Registry => {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry, prefix: 'lazarus_' })
  // How busy the event loop was since the previous scrape (0–1): a service near 1 is
  // saturated, whatever the CPU figures say (time blocked in system calls counts as busy).
  let last = performance.eventLoopUtilization()
  new Gauge({
    name: 'lazarus_event_loop_utilization',
    help: 'Share of time the event loop was busy since the previous scrape (0-1)',
    registers: [registry],
    collect() {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, last).utilization)
      last = now
    },
  })
  return registry
}
