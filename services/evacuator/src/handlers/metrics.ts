import { Counter, Gauge, Histogram, type Registry } from '@lazarus/runtime'

export interface EvacuatorMetrics {
  recoveries: Counter<'status'>
  evacuations: Counter<'outcome'>
  evacuationSeconds: Histogram<'outcome'>
  inFlight: Gauge
}

/** The evacuator's Prometheus metrics, registered on `registry` (or on a private one). */
export const createEvacuatorMetrics = (registry?: Registry): EvacuatorMetrics => {
  const registers = registry ? [registry] : []
  return {
    recoveries: new Counter({
      name: 'lazarus_evacuator_recoveries_total',
      help: 'Host recoveries ended, by status (finished, failed, ignored)',
      labelNames: ['status'],
      registers,
    }),
    evacuations: new Counter({
      name: 'lazarus_evacuator_evacuations_total',
      help: 'Instances whose evacuation ended, by outcome (succeeded, failed)',
      labelNames: ['outcome'],
      registers,
    }),
    evacuationSeconds: new Histogram({
      name: 'lazarus_evacuator_evacuation_seconds',
      help: 'Time from claiming a work item to the instance in its final state on another host',
      labelNames: ['outcome'],
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 90, 180],
      registers,
    }),
    inFlight: new Gauge({
      name: 'lazarus_evacuator_items_in_flight',
      help: 'Work items this process is working on',
      registers,
    }),
  }
}
