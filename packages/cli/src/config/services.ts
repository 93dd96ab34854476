import { agentSettings } from '@lazarus/agent/config'
import { serveSettings } from '@lazarus/all-in-one/config'
import { apiSettings } from '@lazarus/api/config'
import { detectorSettings } from '@lazarus/detector/config'
import { evacuatorSettings } from '@lazarus/evacuator/config'
import { fencerSettings } from '@lazarus/fencer/config'
import { ingestSettings } from '@lazarus/ingest/config'
import type { ServiceSettings } from '@lazarus/runtime'

/** Every service's settings (schema and file layout), in the order the reference lists them. */
export const SERVICES: readonly ServiceSettings[] = [apiSettings, detectorSettings, fencerSettings, evacuatorSettings, agentSettings, ingestSettings, serveSettings]

export const serviceNames = (): string[] => SERVICES.map((s) => s.service)

export const findService = (name: string): ServiceSettings | undefined => SERVICES.find((s) => s.service === name)
