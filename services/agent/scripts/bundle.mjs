#!/usr/bin/env node
/*
 * Bundles lazarus-agent into one file that needs only Node on the host (no node_modules):
 *   pnpm run bundle:agent   →   services/agent/dist-bundle/lazarus-agent.mjs
 * Built from the TypeScript sources (the `@lazarus/source` condition), so no `tsc -b` first.
 * Install it on a compute host as /opt/lazarus/lazarus-agent.mjs (infra/systemd/lazarus-agent.service).
 */
import { build } from 'esbuild'
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const outfile = resolve(here, '../dist-bundle/lazarus-agent.mjs')
const { version } = await import('../package.json', { with: { type: 'json' } }).then((m) => m.default)

const result = await build({
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
  legalComments: 'eof',
  metafile: true,
  // Bundled CommonJS dependencies (pino, prom-client) call require() for Node's modules.
  banner: {
    js: [
      `// lazarus-agent ${version}: one file, needs only Node (^20.19 or ^22.12). Apache-2.0; the bundled libraries' notices are at the end.`,
      "import { createRequire as __lazarusCreateRequire } from 'node:module'; const require = __lazarusCreateRequire(import.meta.url);",
    ].join('\n'),
  },
  logLevel: 'warning',
})

// The bundled libraries' licences (MIT, ISC, Apache-2.0, ...: each asks for its notice to
// travel with the code), appended to the file as one comment.
const packages = new Map()
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input)
  if (m) packages.set(m[2], resolve(m[1]))
}
const notices = [...packages].sort(([a], [b]) => a.localeCompare(b)).map(([name, dir]) => {
  const pkg = JSON.parse(readFileSync(resolve(dir, 'package.json'), 'utf8'))
  const file = readdirSync(dir).find((f) => /^(licen[sc]e|copying)(\.(md|txt))?$/i.test(f))
  const text = file && existsSync(resolve(dir, file)) ? readFileSync(resolve(dir, file), 'utf8').trim() : `(no licence file; package.json says ${pkg.license})`
  return `${name}@${pkg.version} (${pkg.license})\n\n${text}`
})
appendFileSync(outfile, `\n/*\n * Bundled libraries and their licences\n\n${notices.join('\n\n----------------\n\n').replaceAll('*/', '* /')}\n */\n`)
process.stdout.write(`${outfile} (${(statSync(outfile).size / 1024).toFixed(0)} KiB)\n`)
