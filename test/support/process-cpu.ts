import { readdirSync, readFileSync } from 'node:fs'

/** Linux's clock ticks per second for /proc times (USER_HZ, 100 on every mainstream kernel). */
const TICKS_PER_S = 100

/**
 * CPU seconds (user + system) used so far by each process whose command line matches
 * `pattern`, by pid, from /proc. Empty outside Linux.
 */
export const cpuSecondsByPid = (pattern: RegExp): Map<string, number> => {
  const seconds = new Map<string, number>()
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return seconds
  }
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (!pattern.test(cmd)) continue
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // Fields after the parenthesised command name: state is the 3rd field, utime the 14th, stime the 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      seconds.set(pid, (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S)
    } catch {
      // Gone meanwhile.
    }
  }
  return seconds
}

/**
 * CPU seconds the matching processes used between two readings of `cpuSecondsByPid`. A
 * process started meanwhile counts from zero; one that ended meanwhile (a PostgreSQL
 * autovacuum worker, say) counts for nothing, as its last readings are gone with it.
 */
export const cpuSecondsBetween = (before: Map<string, number>, after: Map<string, number>): number => {
  let total = 0
  for (const [pid, s] of after) total += s - (before.get(pid) ?? 0)
  return total
}
