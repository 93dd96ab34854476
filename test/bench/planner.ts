/*
 * Planner bench: a synthetic segment of 1,000 hosts and 40,000 instances (mixed flavors,
 * restart groups, anti-affinity pairs, a few unusable and reserved hosts; a seeded generator,
 * so every run plans the same segment). Measures:
 *   - planFailure of N random single-host failures (the request built beforehand): median
 *     and p95 ms per plan; target p95 < 200 ms;
 *   - failoverCapacity with maxK = 2 over the whole segment: median of the runs; target < 2 s;
 *   - the same on a full segment (memory 0 to 24 GiB free per host), where the quick test never
 *     decides and every host's failure is planned in full: the worst case, same target.
 *
 * Usage: node --conditions=@lazarus/source --import tsx test/bench/planner.ts
 *        [--runs 5] [--failures 200] [--hosts 1000] [--instances 40000] [--seed 42]
 */
import { parseArgs } from 'node:util'
import { type CapacityRequest, failoverCapacity, failureRequest, type PlanHost, type PlanInstance, planFailure, type RestartGroup } from '@lazarus/planner'

const TARGET_PLAN_P95_MS = 200
const TARGET_CAPACITY_MS = 2000

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    failures: { type: 'string', default: '200' },
    hosts: { type: 'string', default: '1000' },
    instances: { type: 'string', default: '40000' },
    seed: { type: 'string', default: '42' },
  },
})
const RUNS = Math.max(5, Number(values.runs))
const FAILURES = Number(values.failures)
const HOSTS = Number(values.hosts)
const INSTANCES = Number(values.instances)

/** mulberry32: a small seeded generator, so the segment is the same on every run. */
const seeded = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const rnd = seeded(Number(values.seed))
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!

// Flavors (VCPU, MiB, GB) and how often each occurs: mean ~12 GiB of memory per instance.
const FLAVORS: Array<{ vcpu: number; ram: number; disk: number; weight: number }> = [
  { vcpu: 1, ram: 2048, disk: 20, weight: 30 },
  { vcpu: 2, ram: 4096, disk: 40, weight: 30 },
  { vcpu: 4, ram: 16384, disk: 80, weight: 25 },
  { vcpu: 8, ram: 32768, disk: 160, weight: 10 },
  { vcpu: 16, ram: 65536, disk: 320, weight: 5 },
]
const flavorBag = FLAVORS.flatMap((f) => Array.from({ length: f.weight }, () => f))

const segment = (): CapacityRequest => {
  const names = Array.from({ length: HOSTS }, (_, i) => `compute-${String(i).padStart(4, '0')}`)
  const used = names.map(() => ({ vcpu: 0, ram: 0, disk: 0 }))
  const instances: PlanInstance[] = []
  const groups = ['db', 'mq', 'app', 'web', 'batch']
  for (let i = 0; i < INSTANCES; i++) {
    const h = Math.floor(rnd() * HOSTS)
    const f = pick(flavorBag)
    used[h]!.vcpu += f.vcpu
    used[h]!.ram += f.ram
    used[h]!.disk += f.disk
    const r = rnd()
    instances.push({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      name: `vm-${i}`,
      host: names[h]!,
      resources: { VCPU: f.vcpu, MEMORY_MB: f.ram, DISK_GB: f.disk },
      priority: pick([1, 2, 3, 3, 3, 4, 5] as const),
      group: r < 0.3 ? pick(groups) : null,
      // One instance in ten is in an anti-affinity pair (server group of two).
      antiAffinity: r > 0.9 ? [`sg-${Math.floor(i / 2)}`] : [],
    })
  }
  const hosts: PlanHost[] = names.map((name, i) => ({
    name,
    inventories: {
      VCPU: { total: 64, reserved: 0, allocationRatio: 4, maxUnit: 64 },
      MEMORY_MB: { total: 786432, reserved: 8192, allocationRatio: 1, maxUnit: 786432 },
      DISK_GB: { total: 4000, reserved: 0, allocationRatio: 1, maxUnit: 4000 },
    },
    usages: { VCPU: used[i]!.vcpu, MEMORY_MB: used[i]!.ram, DISK_GB: used[i]!.disk },
    usable: i % 100 !== 7,
    reserved: i % 50 === 3,
  }))
  const restartGroups: RestartGroup[] = [
    { name: 'db', after: [], timeoutS: 300 },
    { name: 'mq', after: [], timeoutS: 300 },
    { name: 'app', after: ['db', 'mq'], timeoutS: 300 },
    { name: 'web', after: ['app'], timeoutS: 300 },
    { name: 'batch', after: ['db'], timeoutS: 300 },
  ]
  return { hosts, instances, groups: restartGroups, strategy: 'spread', maxK: 2 }
}

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}
const ms = (n: number) => `${n.toFixed(1)} ms`

const seg = segment()
console.log(`segment: ${seg.hosts.length} hosts, ${seg.instances.length} instances, seed ${values.seed}`)

// Single-host failures: requests built beforehand, planFailure timed alone.
const failures = Array.from({ length: FAILURES }, () => failureRequest(seg, [pick(seg.hosts).name], { evacuationS: 30, concurrency: 8 }))
for (const req of failures.slice(0, 10)) planFailure(req)
const planMs: number[] = []
let placed = 0
for (const req of failures) {
  const t0 = performance.now()
  const plan = planFailure(req)
  planMs.push(performance.now() - t0)
  placed += plan.placements.length - plan.unplaced
}
const planP50 = quantile(planMs, 0.5)
const planP95 = quantile(planMs, 0.95)
console.log(
  `planFailure, ${FAILURES} single-host failures (${(placed / FAILURES).toFixed(1)} instances placed each on average): median ${ms(planP50)}, p95 ${ms(planP95)}, max ${ms(Math.max(...planMs))}`,
)

// The whole segment's capacity, maxK = 2.
failoverCapacity(seg)
const capMs: number[] = []
let k = -1
let unabsorbable = 0
for (let r = 0; r < RUNS; r++) {
  const t0 = performance.now()
  const cap = failoverCapacity(seg)
  capMs.push(performance.now() - t0)
  k = cap.hostFailuresTolerated
  unabsorbable = cap.unabsorbable.length
}
const capP50 = quantile(capMs, 0.5)
console.log(
  `failoverCapacity maxK=2, ${RUNS} runs: median ${ms(capP50)} (min ${ms(Math.min(...capMs))}, max ${ms(Math.max(...capMs))}); k = ${k}, ${unabsorbable} hosts unabsorbable`,
)

// The worst case: a segment so full that every host's failure is planned in full.
const full: CapacityRequest = {
  ...seg,
  hosts: seg.hosts.map((h) => {
    const inv = h.inventories.MEMORY_MB!
    return { ...h, inventories: { ...h.inventories, MEMORY_MB: { ...inv, total: (h.usages.MEMORY_MB ?? 0) + inv.reserved + Math.floor(rnd() * 24) * 1024 } } }
  }),
}
failoverCapacity(full)
const fullMs: number[] = []
let fullK = -1
let fullUnabsorbable = 0
for (let r = 0; r < RUNS; r++) {
  const t0 = performance.now()
  const cap = failoverCapacity(full)
  fullMs.push(performance.now() - t0)
  fullK = cap.hostFailuresTolerated
  fullUnabsorbable = cap.unabsorbable.length
}
const fullP50 = quantile(fullMs, 0.5)
console.log(
  `failoverCapacity maxK=2, full segment, ${RUNS} runs: median ${ms(fullP50)} (min ${ms(Math.min(...fullMs))}, max ${ms(Math.max(...fullMs))}); k = ${fullK}, ${fullUnabsorbable} hosts unabsorbable`,
)

const planOk = planP95 < TARGET_PLAN_P95_MS
const capOk = capP50 < TARGET_CAPACITY_MS && fullP50 < TARGET_CAPACITY_MS
console.log(`\ntarget planFailure p95 < ${TARGET_PLAN_P95_MS} ms: ${planOk ? 'met' : 'NOT met'}`)
console.log(`target failoverCapacity (maxK 2) median < ${TARGET_CAPACITY_MS} ms, both segments: ${capOk ? 'met' : 'NOT met'}`)
process.exit(planOk && capOk ? 0 : 1)
