// Preloaded into a child process (NODE_OPTIONS=--import=<this file>): on SIGUSR2 its wall
// clock jumps LAZARUS_TEST_CLOCK_OFFSET_MS off the real one and stays there, like a host
// whose clock was stepped wrong (a bad NTP source, a VM resumed with a stale clock).
// Timers run on the monotonic clock and are unaffected, as on such a host.
const offset = Number(process.env.LAZARUS_TEST_CLOCK_OFFSET_MS ?? 0)
if (!Number.isFinite(offset)) throw new Error('LAZARUS_TEST_CLOCK_OFFSET_MS must be a number of milliseconds')
let jumped = 0
const realNow = Date.now
Date.now = () => realNow() + jumped
process.on('SIGUSR2', () => {
  jumped = offset
})
