import type { Version } from './microversion.js'

export type AppEnv = { Variables: { version: Version } }
