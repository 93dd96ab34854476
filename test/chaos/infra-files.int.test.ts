import { execFile, execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { topology } from '@lazarus/contracts'
import { describe, expect, it } from 'vitest'
import { buildDefinitions } from '../../infra/rabbitmq/definitions.js'
import { DELIVERY_LIMIT } from '../../packages/bus/src/rabbit/declare.js'
import { repoRoot } from '../support/processes.js'

/**
 * The deployment files cannot drift from the code: RabbitMQ definitions against the
 * contracts' topology and the bus's declarations, Kubernetes manifests and systemd units
 * against the services' ports, probes and shutdown bound. No broker needed.
 */
const infra = resolve(repoRoot, 'infra')
const run = promisify(execFile)

/** The services' shutdown bound (packages/runtime onShutdown): stop timeouts must exceed it. */
const SHUTDOWN_BOUND_S = 10
const OPS_PORTS = { api: 15868, detector: 9101, fencer: 9102, evacuator: 9103 } as const

describe('infra/rabbitmq/definitions.json', () => {
  const file = JSON.parse(readFileSync(resolve(infra, 'rabbitmq/definitions.json'), 'utf8')) as Awaited<ReturnType<typeof buildDefinitions>>

  it('is what the topology and the bus declare (regenerate with infra/rabbitmq/definitions.ts)', async () => {
    expect(file).toEqual(JSON.parse(JSON.stringify(await buildDefinitions())))
  })

  it('has every queue of the topology with its retry and dead-letter queues and bindings', () => {
    const queues = new Map(file.queues.map((q) => [q.name, q]))
    for (const spec of Object.values(topology)) {
      const q = queues.get(spec.queue)
      expect(q?.arguments, spec.queue).toEqual({
        'x-queue-type': 'quorum',
        'x-delivery-limit': DELIVERY_LIMIT,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': `${spec.queue}.dead`,
      })
      expect(queues.get(`${spec.queue}.retry`)?.arguments['x-dead-letter-routing-key'], spec.queue).toBe(spec.queue)
      expect(queues.get(`${spec.queue}.dead`)?.arguments, spec.queue).toEqual({ 'x-queue-type': 'quorum' })
      for (const key of spec.bind) {
        expect(
          file.bindings.some((b) => b.destination === spec.queue && b.routing_key === key && b.source === 'lazarus.events'),
          `${spec.queue} ← ${key}`,
        ).toBe(true)
      }
    }
    expect(file.queues).toHaveLength(Object.values(topology).length * 3)
    expect(file.queues.every((q) => q.durable && !q.auto_delete && q.vhost === 'lazarus')).toBe(true)
  })

  it('carries no user and no password: users.ts makes them at deploy time', () => {
    expect(file.users).toEqual([])
    expect(file.permissions).toEqual([])
    expect(file.topic_permissions).toEqual([])
    expect(JSON.stringify(file)).not.toMatch(/password/i)
  })

  it('routes each retry and dead-letter queue from the retry exchange, by its own name', () => {
    for (const spec of Object.values(topology)) {
      for (const q of [`${spec.queue}.retry`, `${spec.queue}.dead`]) {
        expect(
          file.bindings.some((b) => b.source === 'lazarus.retry' && b.destination === q && b.routing_key === q),
          q,
        ).toBe(true)
      }
    }
    expect(file.exchanges.map((e) => `${e.name} ${e.type}`).sort()).toEqual(['lazarus.events topic', 'lazarus.retry topic'])
  })

  it('has policies that contradict no argument the bus declares', () => {
    for (const p of file.policies) {
      const matched = file.queues.filter((q) => new RegExp(p.pattern).test(q.name))
      expect(matched.length, p.name).toBeGreaterThan(0)
      for (const q of matched) {
        for (const key of Object.keys(p.definition)) expect(q.arguments, `${p.name} on ${q.name}`).not.toHaveProperty(`x-${key}`)
      }
    }
  })
})

// ---------------------------------------------------------------- Kubernetes

interface K8sDoc {
  kind: string
  metadata: { name: string; namespace?: string }
  spec?: any
  data?: Record<string, string>
}

const yamlDocs = (path: string): K8sDoc[] => {
  const out = execFileSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))', path], {
    encoding: 'utf8',
  })
  return JSON.parse(out) as K8sDoc[]
}

describe('infra/kubernetes', () => {
  const dir = resolve(infra, 'kubernetes')
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  const docs = files.flatMap((f) => yamlDocs(join(dir, f)).map((d) => ({ file: f, ...d })))
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind)

  it('parses, and the kustomization lists every manifest but the secret example', () => {
    expect(docs.length).toBeGreaterThan(8)
    const k = byKind('Kustomization')[0]! as unknown as { resources: string[] }
    expect([...k.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml').sort())
  })

  it('has a Deployment per service with probes on the right ports, resources, a PDB, and replicas ≥ 2', () => {
    const pdbs = byKind('PodDisruptionBudget')
    for (const [svc, port] of Object.entries(OPS_PORTS)) {
      const d = byKind('Deployment').find((x) => x.metadata.name === `lazarus-${svc}`)
      expect(d, svc).toBeDefined()
      expect(d!.metadata.namespace).toBe('lazarus')
      expect(d!.spec.replicas, svc).toBeGreaterThanOrEqual(2)
      const pod = d!.spec.template.spec
      expect(pod.terminationGracePeriodSeconds, svc).toBeGreaterThan(SHUTDOWN_BOUND_S)
      const c = pod.containers[0]
      // The one image's entrypoint (infra/image, lazarus-image) chooses the service.
      expect(c.image, svc).toMatch(/^localhost\/lazarus:/)
      expect(c.args, svc).toEqual([svc])
      expect(existsSync(resolve(repoRoot, `services/${svc}/src/main.ts`)), svc).toBe(true)
      expect(c.ports[0].containerPort, svc).toBe(port)
      const env = Object.fromEntries((c.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]))
      expect(Number(env[svc === 'api' ? 'API_PORT' : 'OPS_PORT']), svc).toBe(port)
      const probeTarget = (p: any): string =>
        p.httpGet ? `${p.httpGet.port === 'ops' ? port : p.httpGet.port}${p.httpGet.path}` : /127\.0\.0\.1:(\d+\/\w+)/.exec(p.exec.command.join(' '))![1]!
      expect(probeTarget(c.readinessProbe), svc).toBe(`${port}/readyz`)
      expect(probeTarget(c.livenessProbe), svc).toBe(`${port}/healthz`)
      expect(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, svc).toBeTruthy()
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
      expect(c.envFrom).toEqual([{ configMapRef: { name: 'lazarus-config' } }, { secretRef: { name: 'lazarus-secrets' } }])
      // Its own broker user: one key of the lazarus-rabbitmq Secret, no shared AMQP_URL.
      expect((c.env ?? []).find((e: { name: string }) => e.name === 'AMQP_URL')?.valueFrom, svc).toEqual({ secretKeyRef: { name: 'lazarus-rabbitmq', key: svc } })
      const pdb = pdbs.find((p) => p.metadata.name === `lazarus-${svc}`)
      expect(pdb?.spec.selector.matchLabels, svc).toEqual(d!.spec.selector.matchLabels)
      expect(d!.spec.template.metadata.labels).toMatchObject(d!.spec.selector.matchLabels)
    }
    const api = byKind('Service').find((s) => s.metadata.name === 'lazarus-api')
    expect(api?.spec.ports[0].port).toBe(OPS_PORTS.api)
    expect(api?.spec.selector).toEqual({ 'app.kubernetes.io/name': 'lazarus-api' })
    expect(byKind('ConfigMap')[0]?.data?.['API_HOST']).toBe('0.0.0.0')
    expect(byKind('ConfigMap')[0]?.data?.['AMQP_URL']).toBeUndefined()
    const secrets = yamlDocs(join(dir, 'secret.example.yaml')) as (K8sDoc & { stringData?: Record<string, string> })[]
    expect(Object.keys(secrets.find((x) => x.metadata.name === 'lazarus-secrets')?.stringData ?? {})).toEqual(['DATABASE_URL', 'OS_PASSWORD'])
    expect(Object.keys(secrets.find((x) => x.metadata.name === 'lazarus-rabbitmq')?.stringData ?? {}).sort()).toEqual(['api', 'detector', 'evacuator', 'fencer'])
  })
})

// ---------------------------------------------------------------- systemd

const units = ['lazarus-api.service', 'lazarus-detector.service', 'lazarus-fencer.service', 'lazarus-evacuator@.service', 'lazarus-agent.service']
const unitKeys = (text: string): Map<string, string[]> => {
  const keys = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!])
  }
  return keys
}

describe('infra/systemd', () => {
  it('has a hardened unit per service with restart, environment file and a stop timeout above the shutdown bound', () => {
    for (const u of units) {
      const k = unitKeys(readFileSync(resolve(infra, 'systemd', u), 'utf8'))
      const one = (key: string) => k.get(key)?.at(-1)
      // The agent restarts even after a clean exit: a host without its agent looks dead.
      expect(one('Restart'), u).toBe(u === 'lazarus-agent.service' ? 'always' : 'on-failure')
      expect(Number.parseInt(one('TimeoutStopSec') ?? '0', 10), u).toBeGreaterThan(SHUTDOWN_BOUND_S)
      expect(one('KillSignal'), u).toBe('SIGTERM')
      for (const [key, value] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['PrivateTmp', 'yes'],
        ['CapabilityBoundingSet', ''],
        ['User', 'lazarus'],
      ] as const) {
        expect(one(key), `${u} ${key}`).toBe(value)
      }
      expect(k.get('EnvironmentFile')?.length, u).toBeGreaterThan(0)
      const svc = /^lazarus-(\w+)/.exec(u)![1]!
      // Each bus service reads its own broker user last, so that it wins over lazarus.env.
      if (svc !== 'agent') expect(k.get('EnvironmentFile')?.at(-1), u).toBe(`-/etc/lazarus/rabbitmq/${svc}.env`)
      const exec = one('ExecStart') ?? ''
      if (svc === 'agent') {
        // The agent is one file, `pnpm run bundle:agent`'s output (services/agent/scripts/bundle.mjs).
        expect(exec, u).toMatch(/^\/usr\/bin\/node (--[\w-]+=\S+ )*\/opt\/lazarus\/lazarus-agent\.mjs$/)
        expect(readFileSync(resolve(repoRoot, 'services/agent/scripts/bundle.mjs'), 'utf8')).toContain("'../dist-bundle/lazarus-agent.mjs'")
        continue
      }
      const m = /^\/usr\/bin\/node \/opt\/lazarus\/(services\/(\w+)\/dist\/main\.js)$/.exec(exec)
      expect(m, `${u} ExecStart`).not.toBeNull()
      expect(existsSync(resolve(repoRoot, m![1]!.replace('dist/main.js', 'src/main.ts'))), u).toBe(true)
    }
    expect(unitKeys(readFileSync(resolve(infra, 'systemd', 'lazarus-evacuator@.service'), 'utf8')).get('Environment')).toContain('OPS_PORT=%i')
  })

  it('passes systemd-analyze verify', async () => {
    const which = await run('sh', ['-c', 'command -v systemd-analyze']).catch(() => undefined)
    if (!which) return
    const dir = mkdtempSync(join(tmpdir(), 'lazarus-units-'))
    try {
      const names: string[] = []
      for (const u of units) {
        // Verify needs existing files: the environment files become optional here.
        const text = readFileSync(resolve(infra, 'systemd', u), 'utf8').replace(/^EnvironmentFile=\//gm, 'EnvironmentFile=-/')
        const name = u.replace('@.service', '@9103.service')
        writeFileSync(join(dir, name), text)
        if (name !== u) copyFileSync(join(dir, name), join(dir, u))
        names.push(join(dir, name))
      }
      const r = await run('systemd-analyze', ['verify', '--man=no', ...names], { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } }).catch(
        (err: { stdout: string; stderr: string }) => err,
      )
      const problems = `${r.stdout}${r.stderr}`
        .split('\n')
        .filter((l) => l.includes(dir))
        // Keys of systemd ≥ 254 (restart backoff), ignored by older versions.
        .filter((l) => !/Unknown key '(RestartSteps|RestartMaxDelaySec)'/.test(l))
      expect(problems).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('infra/rabbitmq-cluster scripts', () => {
  it('are valid POSIX shell', async () => {
    for (const f of ['lib.sh', 'up.sh', 'down.sh', 'node.sh', 'ctl.sh']) await run('sh', ['-n', resolve(infra, 'rabbitmq-cluster', f)])
  })
})
