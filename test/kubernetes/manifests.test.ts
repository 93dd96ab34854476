import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { repoRoot } from '../support/processes.js'

/**
 * The Kubernetes manifests (infra/kubernetes, applied with `kubectl apply -k`): every
 * service runs from our image (infra/image) as a non-root user, with HTTP probes on its ops
 * port, and a ServiceMonitor scrapes every one of them.
 */

const dir = join(repoRoot, 'infra/kubernetes')
const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
  resources: string[]
  images?: { name: string; newTag?: string }[]
}
type Doc = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec: any }
const docs: Doc[] = kustomization.resources.flatMap((f) =>
  parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`)
    return d.toJS() as Doc
  }),
)
const deployments = docs.filter((d) => d.kind === 'Deployment')
const version = (JSON.parse(readFileSync(join(repoRoot, 'services/api/package.json'), 'utf8')) as { version: string }).version
const services = ['api', 'detector', 'fencer', 'evacuator', 'ingest']

describe('Kubernetes manifests', () => {
  it('deploy every service', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(services.map((s) => `lazarus-${s}`).sort())
  })

  it.each(services)('%s: our image, its entrypoint choosing the service, non-root, HTTP probes on the ops port', (svc) => {
    const d = deployments.find((x) => x.metadata.name === `lazarus-${svc}`)!
    const pod = d.spec.template.spec
    expect(pod.containers).toHaveLength(1)
    const c = pod.containers[0]
    expect(c.image).toBe(`localhost/lazarus:${version}`)
    expect(c.command).toBeUndefined()
    expect(c.args).toEqual([svc])
    // Non-root at the pod and at the container, nothing to escalate to.
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 })
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
    const ops = (c.ports as { name: string; containerPort: number }[]).find((p) => p.name === 'ops')
    expect(ops, 'an ops port').toBeDefined()
    for (const [probe, path] of [
      ['startupProbe', '/healthz'],
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      expect(c[probe], `${svc} ${probe}`).toMatchObject({ httpGet: { path, port: 'ops' } })
      expect(c[probe].exec).toBeUndefined()
    }
    // Prometheus annotations name the same port.
    expect(d.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(ops!.containerPort))
    expect(d.spec.template.metadata.labels['app.kubernetes.io/part-of']).toBe('lazarus')
  })

  it('a ServiceMonitor scrapes /metrics on the ops port of every pod', () => {
    const monitor = docs.find((d) => d.kind === 'ServiceMonitor')!
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1')
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'ops', path: '/metrics' })])
    const selected = docs.filter(
      (d) => d.kind === 'Service' && Object.entries(monitor.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => d.metadata.labels?.[k] === v),
    )
    expect(selected).toHaveLength(1)
    const svc = selected[0]!
    expect(svc.spec.ports).toEqual([expect.objectContaining({ name: 'ops', targetPort: 'ops' })])
    // The Service's selector matches every Deployment's pods.
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels as Record<string, string>
      expect(
        Object.entries(svc.spec.selector as Record<string, string>).every(([k, v]) => labels[k] === v),
        d.metadata.name,
      ).toBe(true)
    }
  })

  it('name the image once more in kustomization.yaml, to retag it for a registry', () => {
    expect(kustomization.images).toEqual([{ name: 'localhost/lazarus', newTag: version }])
  })
})
