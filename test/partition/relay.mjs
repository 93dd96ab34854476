// Run inside a test's network namespace: `node relay.mjs PORT=SOCKET ...` listens on
// 127.0.0.1:PORT and pipes each connection to the Unix socket SOCKET, which the test
// process serves in the root namespace (it pipes on to RabbitMQ or the api on loopback).
// A Unix socket is a file, not a network link, so the namespace needs no route out.
import { connect, createServer } from 'node:net'

for (const pair of process.argv.slice(2)) {
  const [port, socket] = pair.split('=')
  createServer((inbound) => {
    const outbound = connect(socket)
    inbound.pipe(outbound).pipe(inbound)
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
  }).listen(Number(port), '127.0.0.1', () => console.log(`relay listening on 127.0.0.1:${port}`))
}
process.on('SIGTERM', () => process.exit(0))
