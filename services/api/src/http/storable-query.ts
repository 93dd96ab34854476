import { unstorableTextReason } from '@lazarus/contracts'
import type { MiddlewareHandler } from 'hono'
import { badRequest } from '../errors.js'
import type { AppEnv } from './env.js'

/**
 * Refuses, with a 400 naming the parameter, any query parameter whose name or value holds
 * a NUL (`%00`) or invalid Unicode: every filter, marker and sort key ends up as a
 * PostgreSQL parameter, which cannot hold them (the statement would fail as a 500). One
 * check for every route, in front of them all, rather than one per filter.
 */
export const storableQuery = (): MiddlewareHandler<AppEnv> =>
  async function storableQuery(c, next) {
    if (c.req.url.includes('?')) {
      for (const [name, values] of Object.entries(c.req.queries())) {
        const nameReason = unstorableTextReason(name)
        if (nameReason) throw badRequest(`Invalid query parameter name ${JSON.stringify(name)}: ${nameReason}`)
        for (const value of values) {
          const reason = unstorableTextReason(value)
          if (reason) throw badRequest(`Invalid query parameter ${name}: ${reason}`)
        }
      }
    }
    await next()
  }
