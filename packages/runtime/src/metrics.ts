import { performance } from 'node:perf_hooks'
import { Registry, collectDefaultMetrics, Counter, Histogram, Gauge, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client'

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

/*
 * Get-or-create: the metric of that name already on `registry`, else a new one registered
 * there. A service built twice on one registry (tests, the all-in-one) shares its metrics
 * instead of failing on a duplicate name. `registers` is always `[registry]`.
 */

export const getOrCreateCounter = <L extends string = string>(registry: Registry, config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> =>
  (registry.getSingleMetric(config.name) as Counter<L> | undefined) ?? new Counter<L>({ ...config, registers: [registry] })

export const getOrCreateGauge = <L extends string = string>(registry: Registry, config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> =>
  (registry.getSingleMetric(config.name) as Gauge<L> | undefined) ?? new Gauge<L>({ ...config, registers: [registry] })

export const getOrCreateHistogram = <L extends string = string>(registry: Registry, config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> =>
  (registry.getSingleMetric(config.name) as Histogram<L> | undefined) ?? new Histogram<L>({ ...config, registers: [registry] })
