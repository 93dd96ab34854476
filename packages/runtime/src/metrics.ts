import { performance } from 'node:perf_hooks'
import { Registry, collectDefaultMetrics, Counter, Histogram, Gauge } from 'prom-client'

export { Counter, Histogram, Gauge, Registry }

/**
 * One registry per service, with Node's default process metrics, labelled by service.
 * `eventLoopMonitoringPrecisionMs`: how often the event-loop lag is sampled (prom-client's
 * default, 10 ms, wakes the process 100 times a second: too much for the host agent).
 */
export const createMetrics = (service: string, opts: { eventLoopMonitoringPrecisionMs?: number } = {}): Registry => {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({
    register: registry,
    prefix: 'lazarus_',
    ...(opts.eventLoopMonitoringPrecisionMs !== undefined && { eventLoopMonitoringPrecision: opts.eventLoopMonitoringPrecisionMs }),
  })
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
