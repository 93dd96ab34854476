import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { storageHeartbeatFileName, type HeartbeatCheck, type StorageHeartbeatFile } from '@lazarus/contracts'
import type { Probe } from './runner.js'

/**
 * Write `<dir>/<host>.hb` on shared storage (through a temporary file and a rename, so a
 * reader never sees half a file). The detector reads it to tell a host cut off from NATS
 * but still writing to storage (isolated) from a dead one.
 */
export const storageHeartbeatProbe = (dir: string, host: string, state: () => { bootId: string; seq: number }, now: () => number = Date.now): Probe => {
  const path = join(dir, storageHeartbeatFileName(host))
  const tmp = `${path}.tmp`
  return {
    group: 'storageHeartbeat',
    names: [path],
    async run(): Promise<HeartbeatCheck[]> {
      const started = performance.now()
      const body: StorageHeartbeatFile = { host, ...state(), at: now() }
      await writeFile(tmp, JSON.stringify(body))
      await rename(tmp, path)
      return [{ name: path, ok: true, ms: Math.round(performance.now() - started) }]
    },
  }
}
