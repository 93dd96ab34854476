import { readIniSettings, validateSettings, type FileProblem, type ServiceSettings } from '@lazarus/runtime'

/**
 * A service's config file judged on its own (no environment): unknown sections and
 * options, then every value by the service's schema. A setting the file leaves out that
 * the service requires is a problem too (it may come from the environment at start: the
 * message says which variable).
 */
export const checkConfigText = (settings: ServiceSettings, text: string): FileProblem[] => {
  const read = readIniSettings(text, settings)
  const judged = validateSettings(settings, read.values)
  return [...read.problems, ...judged.problems]
}

export const showProblem = (p: FileProblem): string => `${p.option ? `[${p.section}] ${p.option}` : `[${p.section}]`}: ${p.message}`
