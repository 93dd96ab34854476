/** Compute microversion handling as nova-api does it. Pure. */

export interface Version {
  major: number
  minor: number
}

export const parseVersion = (text: string): Version | undefined => {
  const m = /^(\d+)\.(\d+)$/.exec(text.trim())
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined
}

export const compare = (a: Version, b: Version): number => (a.major !== b.major ? a.major - b.major : a.minor - b.minor)

export const format = (v: Version): string => `${v.major}.${v.minor}`

export type VersionRequest = { ok: true; version: Version } | { ok: false; status: 400 | 406; message: string }

/**
 * The microversion a request asks for: `OpenStack-API-Version: compute X.Y` first, then the
 * legacy `X-OpenStack-Nova-API-Version: X.Y`; `latest` means the maximum; none means 2.1.
 * Outside [min, max] is 406, a malformed value 400, both with Nova's wording.
 */
export const requestedVersion = (headers: { get(name: string): string | null | undefined }, min: Version, max: Version): VersionRequest => {
  let raw: string | undefined
  const modern = headers.get('openstack-api-version')
  if (modern) {
    for (const part of modern.split(',')) {
      const [service, value] = part.trim().split(/\s+/, 2)
      if (service?.toLowerCase() === 'compute' && value) raw = value
    }
  }
  if (raw === undefined) raw = headers.get('x-openstack-nova-api-version') ?? undefined
  if (raw === undefined || raw === '') return { ok: true, version: { major: 2, minor: 1 } }
  if (raw.toLowerCase() === 'latest') return { ok: true, version: max }
  const v = parseVersion(raw)
  if (!v) return { ok: false, status: 400, message: `API Version String ${raw} is of invalid format. Must be of format MajorNum.MinorNum.` }
  if (compare(v, min) < 0 || compare(v, max) > 0) {
    return {
      ok: false,
      status: 406,
      message: `Version ${raw} is not supported by the API. Minimum is ${format(min)} and maximum is ${format(max)}.`,
    }
  }
  return { ok: true, version: v }
}
