import { Hono } from 'hono'
import type { AppDeps } from '../http/app.js'
import type { AppEnv } from '../http/env.js'

/** Routes under `/v1/ingest`: external fault sources (Alertmanager webhooks, ...). */
export const ingestRoutes = (_deps: AppDeps): Hono<AppEnv> => new Hono<AppEnv>()
