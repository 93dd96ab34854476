import type { Context } from 'hono'
import { MAX_VERSION, MIN_VERSION } from '../http/microversion.js'

const UPDATED = '2016-07-01T11:33:21Z'

const base = (c: Context) => new URL(c.req.url).origin

/** Version discovery, open to everyone: `GET /` lists, `GET /v1` describes v1. */
export const versionsList = (c: Context) =>
  c.json({
    versions: [
      {
        id: 'v1.0',
        links: [{ href: `${base(c)}/v1/`, rel: 'self' }],
        status: 'CURRENT',
        version: MAX_VERSION,
        min_version: MIN_VERSION,
        updated: UPDATED,
      },
    ],
  })

export const versionV1 = (c: Context) =>
  c.json({
    version: {
      id: 'v1',
      links: [
        { href: `${base(c)}/v1/`, rel: 'self' },
        { href: `${base(c)}/docs`, rel: 'describedby', type: 'text/html' },
      ],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.masakari+json;version=1' }],
      status: 'CURRENT',
      version: MAX_VERSION,
      min_version: MIN_VERSION,
      updated: UPDATED,
    },
  })
