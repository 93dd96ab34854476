import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Hono } from 'hono'

/**
 * The API reference page, `/docs`: Swagger UI over `/openapi.json`, every file served by
 * the api itself from the npm package swagger-ui-dist. Nothing is loaded from the internet
 * (no CDN, no web fonts, no online validator), so the page works on an isolated control
 * plane; the Content-Security-Policy below lets the browser load from this origin only.
 */

const SECURITY_HEADERS = {
  // Swagger UI sets style attributes on its elements: inline styles, but never inline scripts.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Lazarus API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" />
  </head>
  <body>
    <div id="swagger-ui" data-url="/openapi.json"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/init.js"></script>
  </body>
</html>
`

// validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
const INIT = `const root = document.getElementById('swagger-ui')
window.ui = SwaggerUIBundle({ url: root.dataset.url, domNode: root, validatorUrl: null, deepLinking: true })
`

/** The files taken from swagger-ui-dist, by the name they are served under. */
const PACKAGE_FILES = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const

/** swagger-ui-dist's own way to find its files (`getAbsoluteFSPath`). */
const packageDir = (): string => (createRequire(import.meta.url)('swagger-ui-dist') as { getAbsoluteFSPath(): string }).getAbsoluteFSPath()

export const docsRoutes = (): Hono => {
  const app = new Hono()
  const files = new Map<string, Buffer>()
  const file = (name: keyof typeof PACKAGE_FILES): Buffer => {
    let body = files.get(name)
    if (!body) files.set(name, (body = readFileSync(join(packageDir(), name))))
    return body
  }
  app.get('/', (c) => c.html(PAGE, 200, SECURITY_HEADERS))
  app.get('/assets/init.js', (c) => c.body(INIT, 200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' }))
  for (const [name, contentType] of Object.entries(PACKAGE_FILES) as [keyof typeof PACKAGE_FILES, string][]) {
    app.get(`/assets/${name}`, (c) => c.body(new Uint8Array(file(name)), 200, { ...SECURITY_HEADERS, 'content-type': contentType, 'cache-control': 'public, max-age=86400' }))
  }
  return app
}
