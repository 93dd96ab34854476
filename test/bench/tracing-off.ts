/**
 * What tracing costs the bus while it is off (the default): the publish and delivery span
 * wrappers around a message, with no tracer provider registered, against the same work
 * unwrapped. Runs each side 7 times over 200 000 messages (interleaved, after a warm-up) and
 * prints ns per message: median and min–max of the runs, and the overhead of the wrappers.
 *
 *   pnpm run build && node --import tsx test/bench/tracing-off.ts
 */
import { withDeliverySpan, withPublishSpan } from '@lazarus/bus'

const MESSAGES = 200_000
const RUNS = 7
const headers = { 'x-lazarus-attempt': 1 }
const ack = { type: 'ACK' as const }

const bare = async (): Promise<void> => {
  for (let i = 0; i < MESSAGES; i += 1) {
    await (async (h: object) => h)({ ...headers })
    await (async () => ack)()
  }
}
const wrapped = async (): Promise<void> => {
  for (let i = 0; i < MESSAGES; i += 1) {
    await withPublishSpan('bench.ping', 'id', async (trace) => ({ ...headers, ...trace }))
    await withDeliverySpan('bench', 'bench.ping', headers, 1, async () => ack)
  }
}

const nsPerMessage = async (fn: () => Promise<void>): Promise<number> => {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / MESSAGES
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

await bare()
await wrapped()
const runs = { bare: [] as number[], wrapped: [] as number[] }
for (let r = 0; r < RUNS; r += 1) {
  runs.bare.push(await nsPerMessage(bare))
  runs.wrapped.push(await nsPerMessage(wrapped))
}
const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ns/msg (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, ${RUNS} runs)`
console.log(`tracing off, unwrapped:          ${fmt(runs.bare)}`)
console.log(`tracing off, publish+deliver span: ${fmt(runs.wrapped)}`)
const overhead = runs.wrapped.map((w, i) => w - (runs.bare[i] as number))
console.log(`overhead of the span wrappers:   ${fmt(overhead)}`)
