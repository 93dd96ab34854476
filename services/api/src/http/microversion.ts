import { MAX_VERSION, MIN_VERSION, SERVICE_TYPE } from '@lazarus/api-contract'
import type { MiddlewareHandler } from 'hono'
import { ApiError, badRequest } from '../errors.js'

export { MAX_VERSION, MIN_VERSION, SERVICE_TYPE } from '@lazarus/api-contract'

export interface Version {
  major: number
  minor: number
}

const parse = (s: string): Version | undefined => {
  const m = /^([1-9]\d*)\.([1-9]\d*|0)$/.exec(s)
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined
}

const cmp = (a: Version, b: Version) => a.major - b.major || a.minor - b.minor
const text = (v: Version) => `${v.major}.${v.minor}`
const MIN = parse(MIN_VERSION) as Version
const MAX = parse(MAX_VERSION) as Version

export const atLeast = (v: Version, s: string): boolean => cmp(v, parse(s) as Version) >= 0

/**
 * Reads `OpenStack-API-Version: instance-ha X.Y` (or `latest`). Masakari's range is 1.0–1.3:
 * outside it the answer is 406, a malformed version 400. The version is echoed on every
 * response. Without the header Lazarus serves the latest version: old clients ignore the
 * extra fields, and new ones need not ask for progress details and vmoves.
 */
export const microversion = (): MiddlewareHandler<{ Variables: { version: Version } }> =>
  async function microversion(c, next) {
    const header = c.req.header('OpenStack-API-Version')
    let version = MAX
    if (header) {
      const requested = header
        .split(',')
        .map((part) => part.trim().split(/\s+/))
        .find(([service]) => service?.toLowerCase() === SERVICE_TYPE)?.[1]
      if (requested !== undefined && requested.toLowerCase() !== 'latest') {
        const v = parse(requested)
        if (!v) throw badRequest(`API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`)
        if (cmp(v, MIN) < 0 || cmp(v, MAX) > 0) {
          throw new ApiError(406, `Version ${requested} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`)
        }
        version = v
      }
    }
    c.set('version', version)
    c.header('OpenStack-API-Version', `${SERVICE_TYPE} ${text(version)}`)
    c.header('Vary', 'OpenStack-API-Version', { append: true })
    await next()
  }
