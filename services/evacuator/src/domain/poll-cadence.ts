import { nextPollDelay } from './instance-plan.js'

/**
 * When to look again at an evacuation that has run `elapsedMs`, given how long the quickest
 * recent one took (`expectedMs`, 0 when none is known yet):
 * - before 95% of the expected time: not before then;
 * - from 95% to 130% of it: every hundredth of it (at least 10 ms), to see the end at once;
 * - past 130% of it: back off, a twentieth of the time waited, between `firstMs` and `maxMs`;
 * - with nothing to go by yet: an eighth of the time waited, between `firstMs` and `maxMs`
 *   (some thirty looks for an evacuation of seconds, the end seen within an eighth of it).
 */
export const nextLookDelay = (o: { elapsedMs: number; expectedMs: number; firstMs: number; maxMs: number }): number => {
  const { elapsedMs, expectedMs } = o
  if (expectedMs <= 0) return Math.min(o.maxMs, Math.max(o.firstMs, Math.floor(elapsedMs / 8)))
  const firstLook = Math.min(o.maxMs * 5, expectedMs * 0.95)
  if (elapsedMs < firstLook) return Math.ceil(firstLook - elapsedMs)
  if (elapsedMs < expectedMs * 1.3) return Math.max(10, Math.floor(expectedMs / 100))
  return nextPollDelay(elapsedMs, o.firstMs, o.maxMs)
}
