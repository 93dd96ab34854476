import { closeSync, fstatSync, openSync, readSync, realpathSync, constants } from 'node:fs'
import { isAbsolute, sep } from 'node:path'
import type { SecretRef } from '../../domain/control-attributes.js'
import { DEFAULT_BMC_SECRET_DIR } from '../../domain/fence-plan.js'
import { PowerConfigError } from './power-driver.js'

/**
 * Where the fencer may read BMC passwords from. Control attributes come from whoever may
 * register a host, so a reference is honoured only inside what the operator allowed: a file
 * under `secretDir`, an environment variable named in `passwordEnvAllow`. Anything else
 * (`password_file=/proc/self/environ`, `password_env=OS_PASSWORD`) would hand the fencer's
 * own secrets to a BMC address of the caller's choosing.
 */
export interface SecretSources {
  /** BMC_SECRET_DIR: password files must resolve (symlinks followed) to regular files under it. */
  secretDir: string
  /** BMC_PASSWORD_ENV_ALLOW: the environment variables `password_env` may name (none by default). */
  passwordEnvAllow: readonly string[]
  env: NodeJS.ProcessEnv
}

export const defaultSecretSources: SecretSources = { secretDir: DEFAULT_BMC_SECRET_DIR, passwordEnvAllow: [], env: process.env }

/** A password file larger than this is not a password. */
const MAX_SECRET_BYTES = 4096

/** The password a SecretRef points at; errors name the attribute, never the secret. */
export const resolveSecret = (ref: SecretRef | undefined, sources: SecretSources): string | undefined => {
  if (!ref) return undefined
  switch (ref.from) {
    case 'inline':
      throw new PowerConfigError(
        `control attribute "${ref.key}": a BMC password written in the control attributes is refused (it would be stored, shown and sent in clear); ` +
          `put it in a file under ${withSlash(sources.secretDir)} and set password_file=<that path>`,
      )
    case 'env': {
      if (!sources.passwordEnvAllow.includes(ref.name)) {
        throw new PowerConfigError(
          `control attribute "password_env": ${ref.name} is not an allowed BMC password variable (BMC_PASSWORD_ENV_ALLOW${
            sources.passwordEnvAllow.length ? `: ${sources.passwordEnvAllow.join(', ')}` : ' is empty'
          }); use password_file=${withSlash(sources.secretDir)}<file>`,
        )
      }
      const v = sources.env[ref.name]
      if (v === undefined || v === '') throw new PowerConfigError(`control attribute "password_env": environment variable ${ref.name} is not set`)
      return v
    }
    case 'file':
      return readSecretFile(ref.path, sources.secretDir)
  }
}

const withSlash = (dir: string): string => (dir.endsWith(sep) ? dir : `${dir}${sep}`)

/**
 * Read a password file that must lie under `dir`: an absolute path without `..`, resolving
 * (symlinks followed) inside the real `dir`, to a regular file of at most 4 KiB. The file is
 * opened once and checked through its descriptor, so what is checked is what is read.
 */
export const readSecretFile = (path: string, dir: string): string => {
  const attr = 'control attribute "password_file"'
  if (!isAbsolute(path)) throw new PowerConfigError(`${attr} must be an absolute path under ${withSlash(dir)}, not "${path}"`)
  if (path.split('/').includes('..')) throw new PowerConfigError(`${attr} may not contain "..": "${path}"`)
  let realDir: string
  try {
    realDir = withSlash(realpathSync(dir))
  } catch {
    throw new PowerConfigError(`${attr}: the BMC secret directory ${dir} (BMC_SECRET_DIR) does not exist`)
  }
  let real: string
  try {
    real = realpathSync(path)
  } catch (err) {
    throw new PowerConfigError(`${attr}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  if (!real.startsWith(realDir)) {
    throw new PowerConfigError(`${attr}: ${path} is not under the BMC secret directory ${withSlash(dir)} (BMC_SECRET_DIR)`)
  }
  let fd: number
  try {
    // O_NOFOLLOW: the resolved path is the file itself; a symlink swapped in since is refused.
    fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    throw new PowerConfigError(`${attr}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new PowerConfigError(`${attr}: ${path} is not a regular file`)
    if (st.size > MAX_SECRET_BYTES) throw new PowerConfigError(`${attr}: ${path} is larger than ${MAX_SECRET_BYTES} bytes; it holds no password`)
    const buf = Buffer.alloc(MAX_SECRET_BYTES + 1)
    const n = readSync(fd, buf, 0, buf.length, 0)
    if (n > MAX_SECRET_BYTES) throw new PowerConfigError(`${attr}: ${path} is larger than ${MAX_SECRET_BYTES} bytes; it holds no password`)
    const text = buf
      .subarray(0, n)
      .toString('utf8')
      .replace(/\r?\n$/, '')
    if (text === '') throw new PowerConfigError(`${attr}: ${path} is empty`)
    return text
  } finally {
    closeSync(fd)
  }
}
