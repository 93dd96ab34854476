#!/usr/bin/env node
// The `lazarus` command as the workspace links it (node_modules/.bin/lazarus): a file that
// exists at install time, before `pnpm run build` makes dist/, so pnpm links it.
import { existsSync } from 'node:fs'

const main = new URL('../dist/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('lazarus: packages/cli/dist is missing: build first (pnpm run build)\n')
  process.exit(1)
}
await import(main.href)
