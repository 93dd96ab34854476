import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configurationReference } from './reference.js'

/** `pnpm run docs:config`: writes docs/configuration.md from the schemas. */
const target = join(dirname(fileURLToPath(import.meta.url)), '../../../../docs/configuration.md')
writeFileSync(target, configurationReference())
process.stdout.write(`wrote ${target}\n`)
