#!/usr/local/bin/node
// The image's entrypoint: `lazarus-image <service> [args...]` runs that service's main in
// this process (signals reach it directly; no shell, no wrapper process).
import { pathToFileURL } from 'node:url'

const services = {
  api: 'services/api/dist/main.js',
  detector: 'services/detector/dist/main.js',
  fencer: 'services/fencer/dist/main.js',
  evacuator: 'services/evacuator/dist/main.js',
  ingest: 'services/ingest/dist/main.js',
  agent: 'services/agent/dist/main.js',
  demo: 'services/all-in-one/dist/demo.js',
}

const [name, ...rest] = process.argv.slice(2)
const script = name === undefined ? undefined : services[name]
if (script === undefined) {
  process.stderr.write(`usage: lazarus-image ${Object.keys(services).join('|')} [args...]\n`)
  process.exit(name === undefined || name === '--help' || name === '-h' ? 0 : 2)
}
const path = `/opt/lazarus/${script}`
// The service sees its own command line, as if started with `node <script> args...`.
process.argv = [process.argv[0], path, ...rest]
await import(pathToFileURL(path).href)
