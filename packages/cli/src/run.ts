import type { ApiClient } from '@lazarus/api-contract'
import { cliApiClient } from './api.js'
import { createProgram, type Context, type Output } from './cli.js'
import { addCommands } from './commands/index.js'
import { resolveConfig } from './config.js'

export interface RunOptions {
  argv: readonly string[]
  env: Record<string, string | undefined>
  io: Output
  /** The fetch the api client uses (tests pass a stand-in). */
  fetch?: typeof fetch
}

/** Run one command line; returns the exit code. Every failure is reported on stderr. */
export const runCli = async ({ argv, env, io, fetch }: RunOptions): Promise<number> => {
  const context = (global: Record<string, unknown>): Context => {
    let client: ApiClient | undefined
    const flag = (k: string) => (typeof global[k] === 'string' ? (global[k] as string) : undefined)
    return {
      json: global['json'] === true,
      io,
      api: () => {
        client ??= cliApiClient({ config: resolveConfig({ flags: { url: flag('url'), token: flag('token') }, env }), ...(fetch ? { fetch } : {}) })
        return client
      },
    }
  }
  const p = createProgram({ io, context })
  addCommands(p, env)
  return p.run(argv)
}
