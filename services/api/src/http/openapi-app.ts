import { type Hook, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type * as z from 'zod'
import { describeIssues, validate } from '../domain/validation.js'
import { badRequest } from '../errors.js'
import type { AppEnv } from './env.js'
import { jsonBody, optionalJsonBody } from './json-body.js'

/**
 * How the api's route files serve the definitions of routes/definitions.ts with
 * `app.openapi(served(route, prefix), handler)`: the request is validated by the schemas of
 * the definition and the handler reads `c.req.valid('json' | 'param' | 'query')`.
 */

/** A zod failure is Masakari's 400 fault naming the field (the message of domain/validation.ts). */
// biome-ignore lint/suspicious/noExplicitAny: the hook serves every route's schemas.
const defaultHook: Hook<any, AppEnv, any, any> = (result) => {
  if (!result.success) throw badRequest(describeIssues(result.error as z.ZodError))
}

export const openApiApp = (): OpenAPIHono<AppEnv> => new OpenAPIHono<AppEnv>({ defaultHook })

/**
 * `route` served where its app is mounted (`prefix`: the part of its path the mount gives).
 * A JSON body is read as every v1 body is (http/json-body.ts: 415 unless JSON, 400 naming a
 * string PostgreSQL cannot store; an optional body may be absent) and then checked against
 * the definition's schema, the same fault as every other zod failure; @hono/zod-openapi's
 * own body check (its 415 and 400 messages are not Masakari's) is left out.
 */
export const served = <R extends RouteConfig>(route: R, prefix: string): Served<R> => {
  if (!route.path.startsWith(prefix)) throw new Error(`${route.path} is not under ${prefix}`)
  const path = route.path.slice(prefix.length) || '/'
  const body = route.request?.body
  const media = body?.content['application/json']
  const schema = media && 'schema' in media ? (media.schema as z.ZodType) : undefined
  if (!body || !schema) return { ...route, path, hide: true } as unknown as Served<R>
  const read = body.required ? jsonBody : optionalJsonBody
  const checkBody: MiddlewareHandler<AppEnv> = async (c, next) => {
    c.req.addValidatedData('json', validate(schema, await read(c)) as object)
    await next()
  }
  const { body: _documented, ...request } = route.request ?? {}
  return { ...route, path, hide: true, request, middleware: checkBody } as unknown as Served<R>
}

/**
 * The route as its handler sees it: its request typed by the definition (`c.req.valid`); its
 * answer any Response (the views build the bodies; the tests parse them with the contract).
 */
type Served<R extends RouteConfig> = Omit<R, 'responses'> & { responses: { 200: { description: string } } }
