import { readFileSync } from 'node:fs'
import type { SecretRef } from '../../domain/control-attributes.js'
import { PowerConfigError } from './power-driver.js'

export interface SecretSources {
  env: NodeJS.ProcessEnv
  readFile: (path: string) => string
}

export const defaultSecretSources: SecretSources = { env: process.env, readFile: (p) => readFileSync(p, 'utf8') }

/** The password a SecretRef points at; errors name the attribute, never the secret. */
export const resolveSecret = (ref: SecretRef | undefined, sources: SecretSources): string | undefined => {
  if (!ref) return undefined
  switch (ref.from) {
    case 'inline':
      return ref.value
    case 'env': {
      const v = sources.env[ref.name]
      if (v === undefined || v === '') throw new PowerConfigError(`control attribute "password_env": environment variable ${ref.name} is not set`)
      return v
    }
    case 'file':
      try {
        return sources.readFile(ref.path).replace(/\r?\n$/, '')
      } catch (err) {
        throw new PowerConfigError(`control attribute "password_file": cannot read ${ref.path} (${(err as Error).message})`)
      }
  }
}
