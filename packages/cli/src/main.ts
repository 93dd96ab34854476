#!/usr/bin/env node
import { runCli } from './run.js'

const io = {
  out: (text: string) => process.stdout.write(`${text}\n`),
  write: (text: string) => process.stdout.write(text),
  err: (text: string) => process.stderr.write(`${text}\n`),
  tty: Boolean(process.stdout.isTTY),
}

const code = await runCli({ argv: process.argv.slice(2), env: process.env, io })
// Leave once stdout and stderr have drained (a pipe may still hold output), whatever
// keep-alive sockets remain.
process.exitCode = code
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
