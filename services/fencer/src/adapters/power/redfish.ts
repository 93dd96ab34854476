import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { DeviceSettings } from '../../domain/control-attributes.js'
import { PowerConfigError, PowerDeviceError, type PowerDriver, type PowerStatus } from './power-driver.js'
import { resolveSecret, type SecretSources } from './secret.js'

export interface RedfishOptions extends SecretSources {
  /** Each BMC request must answer within this; a hung BMC fails the fence instead of blocking it. */
  requestTimeoutMs: number
}

/** Keys of control_attributes the Redfish driver reads besides the common ones. */
const REDFISH_OPTIONS: readonly string[] = ['insecure_http']

/** A BMC answer larger than this is aborted: a Redfish document of a system is a few KiB. */
export const MAX_BMC_ANSWER_BYTES = 1024 * 1024

const SYSTEMS_PATH = '/redfish/v1/Systems'

/**
 * DMTF Redfish over HTTP(S) with Basic auth. `address` is the ComputerSystem URL
 * (`https://bmc/redfish/v1/Systems/1`); a bare BMC address (`https://bmc` or `bmc`) is
 * resolved to its only system. Power off is `ComputerSystem.Reset` with `ForceOff`;
 * status is the system's `PowerState`. TLS certificates are verified unless the host's
 * attributes say `verify_tls=false`; plain `http://` is refused unless they say
 * `insecure_http=true` (Basic auth would cross the network in clear).
 *
 * The credentials go to the configured origin only: a member, reset target or any other
 * link the BMC answers with that points at another scheme, host or port is not followed.
 * Every request has a deadline covering connect, headers and body, and an answer larger
 * than {@link MAX_BMC_ANSWER_BYTES} is aborted.
 */
export const createRedfishDriver = (settings: DeviceSettings, opts: RedfishOptions): PowerDriver => {
  for (const key of Object.keys(settings.options)) {
    if (!REDFISH_OPTIONS.includes(key)) throw new PowerConfigError(`control attribute "${key}" is not known to the redfish driver`)
  }
  if (!settings.address) throw new PowerConfigError('driver=redfish needs control attribute "address" (the BMC system URL)')
  let base: URL
  try {
    base = new URL(settings.address.includes('://') ? settings.address : `https://${settings.address}`)
  } catch {
    throw new PowerConfigError(`control attribute "address" is not a URL: "${settings.address}"`)
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new PowerConfigError(`control attribute "address" must be an http(s) URL, not ${base.protocol}`)
  }
  const insecure = settings.options['insecure_http']
  const insecureHttp = insecure === undefined ? false : parseFlag(insecure)
  if (insecureHttp === undefined) throw new PowerConfigError(`control attribute "insecure_http" must be true or false, not "${insecure}"`)
  if (base.protocol === 'http:' && !insecureHttp) {
    throw new PowerConfigError(
      'control attribute "address" is plain http://: the BMC credentials would cross the network in clear; use https:// (verify_tls=false for a self-signed certificate), or set insecure_http=true for a lab BMC',
    )
  }
  if (base.password) {
    throw new PowerConfigError('control attribute "address" holds a password (user:password@): give username= and password_file= instead')
  }
  const password = resolveSecret(settings.password, opts)
  const username = settings.username ?? (base.username ? decodeURIComponent(base.username) : undefined)
  base.username = ''
  base.password = ''
  const auth = username !== undefined ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined

  let systemUrl: string | undefined = base.pathname.startsWith(`${SYSTEMS_PATH}/`) ? base.href.replace(/\/$/, '') : undefined
  let resetTarget: string | undefined

  const call = (method: 'GET' | 'POST', url: string, body?: unknown) => send({ method, url, body, auth, verifyTls: settings.verifyTls, timeoutMs: opts.requestTimeoutMs })

  /** A link from a BMC answer, resolved against the BMC; refused unless it stays on the configured origin. */
  const sameOrigin = (link: string, what: string): string => {
    let url: URL
    try {
      url = new URL(link, base)
    } catch {
      throw new PowerDeviceError(`BMC ${base.host} answered a ${what} that is not a URL`)
    }
    if (url.origin !== base.origin || url.username || url.password) {
      throw new PowerDeviceError(`BMC ${base.host} answered a ${what} on another origin (${url.origin}); not followed, the credentials go to ${base.origin} only`)
    }
    return url.href
  }

  const system = async (): Promise<string> => {
    if (systemUrl) return systemUrl
    const r = await call('GET', new URL(SYSTEMS_PATH, base).href)
    if (r.status !== 200) throw new PowerDeviceError(`BMC ${base.host}: GET ${SYSTEMS_PATH} answered HTTP ${r.status}${errorDetail(r.json)}`)
    const members = (r.json as { Members?: { '@odata.id'?: unknown }[] } | undefined)?.Members ?? []
    const ids = members.map((m) => m['@odata.id']).filter((v): v is string => typeof v === 'string')
    if (ids.length !== 1 || !ids[0]) {
      throw new PowerConfigError(`BMC ${base.host} has ${ids.length} systems; set "address" to the system URL (${SYSTEMS_PATH}/<id>)`)
    }
    systemUrl = sameOrigin(ids[0], 'system member')
    return systemUrl
  }

  const reset = async (resetType: 'ForceOff' | 'On'): Promise<void> => {
    const url = resetTarget ?? `${await system()}/Actions/ComputerSystem.Reset`
    const r = await call('POST', url, { ResetType: resetType })
    if (r.status < 200 || r.status >= 300) {
      throw new PowerDeviceError(`BMC ${base.host} refused ${resetType}: HTTP ${r.status}${errorDetail(r.json)}`)
    }
  }

  return {
    powerOff: () => reset('ForceOff'),
    powerOn: () => reset('On'),
    async status(): Promise<PowerStatus> {
      const url = await system()
      const r = await call('GET', url)
      if (r.status !== 200) throw new PowerDeviceError(`BMC ${base.host}: GET system answered HTTP ${r.status}${errorDetail(r.json)}`)
      const doc = r.json as { PowerState?: unknown; Actions?: Record<string, { target?: unknown }> } | undefined
      const target = doc?.Actions?.['#ComputerSystem.Reset']?.target
      if (typeof target === 'string') resetTarget = sameOrigin(target, 'reset target')
      switch (doc?.PowerState) {
        case 'Off':
          return 'off'
        case 'On':
        case 'PoweringOn':
        case 'PoweringOff':
          return 'on'
        default:
          return 'unknown'
      }
    },
  }
}

const parseFlag = (v: string): boolean | undefined => {
  const s = v.toLowerCase()
  if (['true', 'yes', '1', 'on'].includes(s)) return true
  if (['false', 'no', '0', 'off'].includes(s)) return false
  return undefined
}

const errorDetail = (json: unknown): string => {
  const msg = (json as { error?: { message?: unknown } } | undefined)?.error?.message
  return typeof msg === 'string' ? `: ${msg}` : ''
}

interface HttpResult {
  status: number
  json: unknown
}

/** One HTTP request with a hard deadline covering connect, headers and body, and a bounded answer. */
const send = (req: { method: string; url: string; body: unknown; auth: string | undefined; verifyTls: boolean; timeoutMs: number }): Promise<HttpResult> =>
  new Promise<HttpResult>((resolve, reject) => {
    const url = new URL(req.url)
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (req.auth) headers['authorization'] = req.auth
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    const where = `${req.method} ${url.origin}${url.pathname}`
    const onResponse = (res: IncomingMessage) => {
      const tooLarge = () => {
        const err = new PowerDeviceError(`BMC ${where}: answer larger than ${MAX_BMC_ANSWER_BYTES} bytes; aborted`)
        finish(err)
        r.destroy(err)
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > MAX_BMC_ANSWER_BYTES) return tooLarge()
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        if (done) return
        size += c.length
        if (size > MAX_BMC_ANSWER_BYTES) return tooLarge()
        chunks.push(c)
      })
      res.on('error', (err) => finish(new PowerDeviceError(`BMC ${where}: ${err.message}`, { cause: err })))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try {
          json = text ? JSON.parse(text) : undefined
        } catch {
          json = undefined
        }
        finish(undefined, { status: res.statusCode ?? 0, json })
      })
    }
    const r =
      url.protocol === 'https:'
        ? httpsRequest(url, { method: req.method, headers, rejectUnauthorized: req.verifyTls }, onResponse)
        : httpRequest(url, { method: req.method, headers }, onResponse)
    let done = false
    const timer = setTimeout(() => {
      const err = new PowerDeviceError(`BMC did not answer ${where} within ${req.timeoutMs} ms`, { timedOut: true })
      finish(err)
      r.destroy(err)
    }, req.timeoutMs)
    function finish(err: Error | undefined, result?: HttpResult): void {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err) reject(err)
      else resolve(result as HttpResult)
    }
    r.on('error', (err) => finish(err instanceof PowerDeviceError ? err : new PowerDeviceError(`BMC ${where}: ${err.message}`, { cause: err })))
    if (payload !== undefined) r.write(payload)
    r.end()
  })
