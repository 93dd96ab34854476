import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let dir: string | undefined

/**
 * A BMC secret directory of this test process (mode 0700, removed at exit): what
 * BMC_SECRET_DIR is in production. Tests write BMC passwords here and reference them with
 * `password_file=`, as operators do.
 */
export const testBmcSecretDir = (): string => {
  if (dir) return dir
  const made = mkdtempSync(join(tmpdir(), 'lazarus-bmc-'))
  chmodSync(made, 0o700)
  process.once('exit', () => rmSync(made, { recursive: true, force: true }))
  dir = made
  return made
}

/** Write `password` to `<testBmcSecretDir>/<name>` (mode 0600); returns the file's path. */
export const writeBmcSecret = (name: string, password: string): string => {
  const path = join(testBmcSecretDir(), name.replace(/[^A-Za-z0-9._-]/g, '_'))
  writeFileSync(path, `${password}\n`, { mode: 0o600 })
  return path
}
