import type { Principal } from './principal.js'
import type { Version } from './microversion.js'

export type AppEnv = { Variables: { version: Version; principal?: Principal } }
