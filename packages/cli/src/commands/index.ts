import type { Program } from '../cli.js'
import { addAlertCommands } from './alerts.js'
import { addConfigCommands } from './config.js'
import { addDbCommands } from './db.js'
import { addHostCommands } from './hosts.js'
import { addNatsConfigCommand } from './nats-config.js'
import { addImportCommands } from './import.js'
import { addKeystoneCommands } from './keystone.js'
import { addNotificationCommands } from './notifications.js'
import { addSegmentCommands } from './segments.js'
import { addServeCommand } from './serve.js'

/** Every command of `lazarus`, in the order help lists them. */
export const addCommands = (p: Program, env: Record<string, string | undefined> = process.env): void => {
  addSegmentCommands(p)
  addHostCommands(p)
  addNotificationCommands(p)
  addAlertCommands(p)
  addNatsConfigCommand(p)
  addImportCommands(p, env)
  addConfigCommands(p)
  addKeystoneCommands(p, env)
  addServeCommand(p)
  addDbCommands(p, env)
}
