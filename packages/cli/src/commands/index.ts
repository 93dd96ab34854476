import type { CommandSpec } from '../cli.js'
import { hostCommands } from './hosts.js'
import { notificationCommands } from './notifications.js'
import { segmentCommands } from './segments.js'

export const commands: readonly CommandSpec[] = [...segmentCommands, ...hostCommands, ...notificationCommands]
