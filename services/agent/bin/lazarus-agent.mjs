#!/usr/bin/env node
// The `lazarus-agent` command as the workspace links it: a file that exists at install time,
// before `pnpm run build` makes dist/, so pnpm links it. On a compute host the agent runs as
// one bundled file instead (scripts/bundle.mjs).
import { existsSync } from 'node:fs'

const main = new URL('../dist/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('lazarus-agent: services/agent/dist is missing: build first (pnpm run build)\n')
  process.exit(1)
}
await import(main.href)
