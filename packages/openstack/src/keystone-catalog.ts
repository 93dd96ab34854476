import * as z from 'zod'
import { KeystoneError, faultMessage } from './errors.js'
import { httpRequest, type HttpResponse } from './http.js'
import { issueToken, keystoneV3Url, type EndpointInterface, type KeystoneCredentials } from './keystone.js'

/** Keystone's catalog administration (services and endpoints), as `openstack service|endpoint` does it. Needs the admin role. */

const Service = z.looseObject({ id: z.string(), name: z.string().nullish(), type: z.string(), enabled: z.boolean().optional() })
const Endpoint = z.looseObject({
  id: z.string(),
  service_id: z.string(),
  interface: z.enum(['public', 'internal', 'admin']),
  url: z.string(),
  region_id: z.string().nullish(),
})
export type CatalogService = z.infer<typeof Service>
export type CatalogEndpoint = z.infer<typeof Endpoint>

export interface KeystoneCatalogAdmin {
  servicesOfType(type: string): Promise<CatalogService[]>
  createService(s: { name: string; type: string; description: string }): Promise<CatalogService>
  endpointsOf(serviceId: string): Promise<CatalogEndpoint[]>
  createEndpoint(e: { serviceId: string; interface: EndpointInterface; url: string; region: string }): Promise<CatalogEndpoint>
  updateEndpointUrl(id: string, url: string): Promise<void>
  deleteEndpoint(id: string): Promise<void>
  deleteService(id: string): Promise<void>
}

export const connectKeystoneCatalog = async (creds: KeystoneCredentials, timeoutMs = 30_000): Promise<KeystoneCatalogAdmin> => {
  const { token } = await issueToken(creds, timeoutMs)
  const base = keystoneV3Url(creds.authUrl)
  const call = async (method: string, path: string, ok: number[], body?: unknown): Promise<HttpResponse> => {
    const res = await httpRequest({ method, url: `${base}${path}`, timeoutMs, body, ca: creds.ca, headers: { 'X-Auth-Token': token } })
    if (!ok.includes(res.status)) throw new KeystoneError(res.status, `Keystone ${method} ${path} answered ${res.status}: ${faultMessage(res.body, res.statusText)}`, res.body)
    return res
  }
  const parse = <T extends z.ZodType>(schema: T, res: HttpResponse, what: string): z.infer<T> => {
    const r = schema.safeParse(res.body)
    if (!r.success) throw new KeystoneError(res.status, `Keystone answered ${what} in an unexpected shape: ${r.error.message}`, res.body)
    return r.data
  }
  return {
    async servicesOfType(type) {
      const res = await call('GET', `/services?type=${encodeURIComponent(type)}`, [200])
      return parse(z.looseObject({ services: z.array(Service) }), res, 'the service list').services.filter((s) => s.type === type)
    },
    async createService(s) {
      const res = await call('POST', '/services', [201], { service: { ...s, enabled: true } })
      return parse(z.looseObject({ service: Service }), res, 'the created service').service
    },
    async endpointsOf(serviceId) {
      const res = await call('GET', `/endpoints?service_id=${encodeURIComponent(serviceId)}`, [200])
      return parse(z.looseObject({ endpoints: z.array(Endpoint) }), res, 'the endpoint list').endpoints.filter((e) => e.service_id === serviceId)
    },
    async createEndpoint(e) {
      const res = await call('POST', '/endpoints', [201], { endpoint: { service_id: e.serviceId, interface: e.interface, url: e.url, region_id: e.region, enabled: true } })
      return parse(z.looseObject({ endpoint: Endpoint }), res, 'the created endpoint').endpoint
    },
    async updateEndpointUrl(id, url) {
      await call('PATCH', `/endpoints/${encodeURIComponent(id)}`, [200], { endpoint: { url } })
    },
    async deleteEndpoint(id) {
      await call('DELETE', `/endpoints/${encodeURIComponent(id)}`, [204])
    },
    async deleteService(id) {
      await call('DELETE', `/services/${encodeURIComponent(id)}`, [204])
    },
  }
}
