/** Compute API microversions ("2.53"): parsing, ordering and negotiation. Pure. */

export interface Microversion {
  major: number
  minor: number
}

export const parseMicroversion = (text: string): Microversion => {
  const m = /^(\d+)\.(\d+)$/.exec(text.trim())
  if (!m) throw new Error(`not a microversion: '${text}'`)
  return { major: Number(m[1]), minor: Number(m[2]) }
}

export const formatMicroversion = (v: Microversion): string => `${v.major}.${v.minor}`

/** Negative when a < b, 0 when equal, positive when a > b. */
export const compareMicroversions = (a: string | Microversion, b: string | Microversion): number => {
  const x = typeof a === 'string' ? parseMicroversion(a) : a
  const y = typeof b === 'string' ? parseMicroversion(b) : b
  return x.major !== y.major ? x.major - y.major : x.minor - y.minor
}

export const atLeast = (version: string, wanted: string): boolean => compareMicroversions(version, wanted) >= 0

/**
 * The highest microversion both sides support: min(endpoint max, our max), refused when
 * that falls below the endpoint's minimum. An endpoint without microversions (max '')
 * speaks 2.1.
 */
export const negotiateMicroversion = (endpoint: { min: string; max: string }, ourMax: string): string => {
  const max = endpoint.max === '' ? '2.1' : endpoint.max
  const min = endpoint.min === '' ? '2.1' : endpoint.min
  const chosen = compareMicroversions(max, ourMax) < 0 ? max : ourMax
  if (compareMicroversions(chosen, min) < 0) {
    throw new Error(`no common compute microversion: endpoint supports ${min}–${max}, Lazarus at most ${ourMax}`)
  }
  return formatMicroversion(parseMicroversion(chosen))
}
