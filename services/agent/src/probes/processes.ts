import { readdir, readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { HeartbeatCheck } from '@lazarus/contracts'
import type { Probe } from './runner.js'

/** The kernel keeps 15 characters of a process name in /proc/<pid>/comm. */
const COMM_LEN = 15

/**
 * Are processes with these names running? Reads /proc (`procRoot`): a process matches by
 * its `comm` (truncated to 15 characters by the kernel) or, for interpreters such as
 * python running `nova-compute`, by the base name of its first two command-line words.
 * Remembers the pid found for each name, so a healthy host costs one small read per name.
 */
export const processProbe = (names: readonly string[], procRoot = '/proc'): Probe => {
  const known = new Map<string, string>()

  const matches = async (pid: string, comm: string, name: string): Promise<boolean> => {
    if (comm === name.slice(0, COMM_LEN)) return true
    if (!/^(python|perl|ruby|node|bash|sh)/.test(comm) && !(name.length > COMM_LEN && name.startsWith(comm))) return false
    const cmdline = await readFile(`${procRoot}/${pid}/cmdline`, 'utf8').catch(() => '')
    const argv = cmdline.split('\0')
    return argv.slice(0, 2).some((a) => a !== '' && basename(a) === name)
  }

  const readComm = (pid: string) =>
    readFile(`${procRoot}/${pid}/comm`, 'utf8').then(
      (s) => s.trim(),
      () => undefined,
    )

  return {
    group: 'processes',
    names: [...names],
    async run(): Promise<HeartbeatCheck[]> {
      const started = performance.now()
      const alive = new Set<string>()
      const missing: string[] = []
      for (const name of names) {
        const pid = known.get(name)
        const comm = pid === undefined ? undefined : await readComm(pid)
        if (pid !== undefined && comm !== undefined && (await matches(pid, comm, name))) alive.add(name)
        else {
          known.delete(name)
          missing.push(name)
        }
      }
      if (missing.length > 0) {
        const pids = (await readdir(procRoot)).filter((e) => /^\d+$/.test(e))
        for (const pid of pids) {
          const comm = await readComm(pid)
          if (comm === undefined) continue
          for (const name of missing) {
            if (!alive.has(name) && (await matches(pid, comm, name))) {
              alive.add(name)
              known.set(name, pid)
            }
          }
          if (missing.every((n) => alive.has(n))) break
        }
      }
      const ms = Math.round(performance.now() - started)
      return names.map((name) => (alive.has(name) ? { name, ok: true, ms } : { name, ok: false, ms, error: 'not running' }))
    },
  }
}
