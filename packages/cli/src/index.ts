export { cliApiClient } from './api.js'
export { resolveConfig, type CliConfig } from './config.js'
export { Exit, CliError } from './errors.js'
export { runCli } from './run.js'
