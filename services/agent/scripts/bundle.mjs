#!/usr/bin/env node
/*
 * Bundles lazarus-agent into one file that needs only Node on the host (no node_modules):
 *   npm run bundle:agent   →   services/agent/dist-bundle/lazarus-agent.mjs
 * Built from the TypeScript sources (the `@lazarus/source` condition), so no `tsc -b` first.
 * Install it on a compute host as /usr/lib/lazarus/lazarus-agent.mjs (infra/systemd/lazarus-agent.service).
 */
import { build } from 'esbuild'
import { statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const outfile = resolve(here, '../dist-bundle/lazarus-agent.mjs')
const { version } = await import('../package.json', { with: { type: 'json' } }).then((m) => m.default)

await build({
  entryPoints: [resolve(here, '../src/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  // The oldest Node the project supports (package.json engines).
  target: 'node20.19',
  conditions: ['@lazarus/source'],
  // Whitespace and syntax only: names stay, so a stack trace from a host still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  // Licence notices of the bundled code stay in the file, at its end.
  legalComments: 'eof',
  // Bundled CommonJS dependencies (pino, prom-client) call require() for Node's modules.
  banner: {
    js: [
      `// lazarus-agent ${version}: one file, needs only Node (^20.19 or ^22.12). Apache-2.0; the bundled libraries' notices are at the end.`,
      "import { createRequire as __lazarusCreateRequire } from 'node:module'; const require = __lazarusCreateRequire(import.meta.url);",
    ].join('\n'),
  },
  logLevel: 'warning',
})
process.stdout.write(`${outfile} (${(statSync(outfile).size / 1024).toFixed(0)} KiB)\n`)
