import { readdirSync, readFileSync } from 'node:fs'

/** Linux's clock ticks per second for /proc times (USER_HZ, 100 on every mainstream kernel). */
const TICKS_PER_S = 100

/**
 * CPU seconds (user + system) used so far by the processes whose command line matches
 * `pattern`, summed, from /proc. Processes that started or ended between two readings count
 * only for the time they were seen: good enough for long-lived servers under a bench. 0
 * outside Linux.
 */
export const cpuSecondsOf = (pattern: RegExp): number => {
  let ticks = 0
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return 0
  }
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (!pattern.test(cmd)) continue
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // Fields after the parenthesised command name: state is the 3rd field, utime the 14th, stime the 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // Gone meanwhile.
    }
  }
  return ticks / TICKS_PER_S
}
