import * as z from 'zod'
import { novaErrorFrom } from './errors.js'
import { httpRequest } from './http.js'

const VersionJson = z.looseObject({
  id: z.string().optional(),
  status: z.string().optional(),
  version: z.string().default(''),
  min_version: z.string().default(''),
})

/**
 * The microversion range of a compute endpoint. The versioned endpoint (`.../v2.1`) answers
 * `{"version": {...}}`; the unversioned root answers `{"versions": [...]}`, of which the
 * CURRENT (else the highest) is taken.
 */
export const discoverComputeVersions = async (endpoint: string, token: string, timeoutMs: number, ca?: string): Promise<{ min: string; max: string }> => {
  // Some catalogs append the project id (`.../v2.1/<project>`); the version lives above it.
  const url = endpoint.replace(/(\/v2(?:\.1)?)\/[^/]+$/, '$1')
  const get = () => httpRequest({ method: 'GET', url, timeoutMs, ca, headers: { 'X-Auth-Token': token } })
  let res
  try {
    res = await get()
  } catch {
    res = await get()
  }
  if (res.status < 200 || res.status >= 300) throw novaErrorFrom(res.status, res.statusText, res.body, `GET ${endpoint}`)
  return parseVersionDocument(res.body, endpoint)
}

export const parseVersionDocument = (body: unknown, endpoint: string): { min: string; max: string } => {
  const doc = z.looseObject({ version: VersionJson.optional(), versions: z.array(VersionJson).optional() }).safeParse(body)
  if (doc.success && doc.data.version) return { min: doc.data.version.min_version, max: doc.data.version.version }
  if (doc.success && doc.data.versions && doc.data.versions.length > 0) {
    const list = doc.data.versions
    const current = list.find((v) => v.status === 'CURRENT' && v.version !== '') ?? list.find((v) => v.version !== '')
    if (current) return { min: current.min_version, max: current.version }
    return { min: '', max: '' }
  }
  throw new Error(`compute endpoint ${endpoint} answered its version document with ${JSON.stringify(body)?.slice(0, 200)}`)
}
