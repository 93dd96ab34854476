import { Hono } from 'hono'
import type { AppDeps } from '../http/app.js'
import type { AppEnv } from '../http/env.js'

/** The operator dashboard page and its assets, served under `/dashboard`. */
export const dashboardRoutes = (_deps: AppDeps): Hono<AppEnv> => new Hono<AppEnv>()
