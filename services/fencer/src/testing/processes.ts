import { execFileSync } from 'node:child_process'

/** Command lines of the running processes that contain `needle` (for leak and `ps` exposure checks). */
export const commandLinesWith = (needle: string): string[] =>
  execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(needle) && !line.startsWith('ps '))

/** Poll until `check` holds or `timeoutMs` passes; returns whether it held. */
export const eventually = async (check: () => boolean, timeoutMs = 3_000, intervalMs = 50): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (check()) return true
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
