import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StorageHeartbeatFile, storageHeartbeatFileName } from '@lazarus/contracts'

/**
 * Reads hosts' storage heartbeat files from the shared directory. A read that does not
 * finish within `timeoutMs` (a hung NFS mount) counts as missing, and no second read of
 * the same host starts before the first one settles.
 */
export const createStorageReader = (dir: string, timeoutMs = 500) => {
  const inFlight = new Set<string>()
  return {
    inFlight: (host: string) => inFlight.has(host),
    async read(host: string): Promise<StorageHeartbeatFile | undefined> {
      if (inFlight.has(host)) return undefined
      inFlight.add(host)
      const reading = readFile(join(dir, storageHeartbeatFileName(host)), 'utf8')
        .then((text) => {
          const parsed = StorageHeartbeatFile.safeParse(JSON.parse(text))
          return parsed.success ? parsed.data : undefined
        })
        .catch(() => undefined)
        .finally(() => inFlight.delete(host))
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)))
      const result = await Promise.race([reading, timedOut])
      clearTimeout(timer)
      return result
    },
  }
}
export type StorageReader = ReturnType<typeof createStorageReader>
