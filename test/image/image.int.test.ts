import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createTestDatabase, createTestVhost } from '../support/infra.js'
import { repoRoot } from '../support/processes.js'

/**
 * The container image (infra/image): built by infra/image/build.sh, then run. Where
 * `podman run` works, the api and the demo run with podman. In a sandbox without cgroups
 * or the right to set rlimits (this CI machine: crun refuses), the test unpacks the OCI
 * image with umoci and runs its entrypoint in the image's root filesystem as the image's
 * user, with the image's environment and working directory, in a mount namespace of its
 * own (unshare --root --setuid): the same files, user and command a runtime would run.
 */

const run = promisify(execFile)
/** The absolute path of a command on this machine, or '' when it is not installed. */
const which = (cmd: string): string => {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim()
  } catch {
    return ''
  }
}
const tools = Object.fromEntries(['buildah', 'umoci', 'unshare', 'mount', 'sh'].map((c) => [c, which(c)]))
const missing = Object.keys(tools).filter((c) => !tools[c])
const reason = missing.length
  ? `missing ${missing.join(', ')} (apt-get install buildah umoci; .ci/run installs them)`
  : process.getuid?.() !== 0
    ? 'needs root (buildah with chroot isolation, unshare)'
    : ''
if (reason) process.stderr.write(`test/image: skipped: ${reason}\n`)

interface ImageConfig {
  user: { uid: number; gid: number }
  args: string[]
  env: string[]
  cwd: string
}

interface Launched {
  child: ChildProcess
  lines: string[]
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>
  exit: Promise<number | null>
}

const launch = (cmd: string, args: string[], env: Record<string, string>): Launched => {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = []
  const onLine = (line: string) => {
    lines.push(line)
    for (const w of [...waiters]) {
      if (!w.pattern.test(line)) continue
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(line)
    }
  }
  createInterface({ input: child.stdout! }).on('line', onLine)
  createInterface({ input: child.stderr! }).on('line', onLine)
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return {
    child,
    lines,
    exit,
    waitForLine: (pattern, timeoutMs) => {
      const seen = lines.find((l) => pattern.test(l))
      if (seen) return Promise.resolve(seen)
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`)), timeoutMs)
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), res(l)) })
        void exit.then((code) => {
          clearTimeout(timer)
          rej(new Error(`exited (${code}) before printing ${pattern}:\n${lines.slice(-30).join('\n')}`))
        })
      })
    },
  }
}

describe.skipIf(Boolean(reason))('the container image (infra/image)', () => {
  const out = mkdtempSync('/tmp/lazarus-image-test.')
  const bundle = join(out, 'bundle')
  const rootfs = join(bundle, 'rootfs')
  const app = join(rootfs, 'opt/lazarus')
  let tag = ''
  let config: ImageConfig
  /** 'podman' when containers run here; otherwise why not, and the unpacked image is run instead. */
  let runner: 'podman' | 'rootfs' = 'rootfs'
  const started: Launched[] = []

  /** `lazarus-image <args>` from the image, with extra environment, as the image's user. */
  const start = (args: string[], extra: Record<string, string>): Launched => {
    const p =
      runner === 'podman'
        ? launch('podman', ['run', '--rm', '--network=host', ...Object.entries(extra).flatMap(([k, v]) => ['-e', `${k}=${v}`]), tag, ...args], {
            ...(process.env as Record<string, string>),
            STORAGE_DRIVER: 'vfs',
          })
        : launch(
            tools['unshare']!,
            [
              // No fork anywhere: unshare, sh and unshare again each exec the next, so the
              // spawned pid is the service's own and signals reach it directly.
              '--mount',
              '--propagation',
              'private',
              tools['sh']!,
              '-c',
              `${tools['mount']} -t proc proc "$0/proc" && ${tools['mount']} --rbind /dev "$0/dev" && exec "$@"`,
              rootfs,
              tools['unshare']!,
              `--root=${rootfs}`,
              `--wd=${config.cwd}`,
              `--setgid=${config.user.gid}`,
              `--setuid=${config.user.uid}`,
              ...config.args.slice(0, 1),
              ...args,
            ],
            // The image's environment (PATH=/usr/local/bin, NODE_ENV, HOME), then the test's settings.
            { ...Object.fromEntries(config.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])), ...extra },
          )
    started.push(p)
    return p
  }

  beforeAll(async () => {
    const t0 = Date.now()
    const build = await run('bash', ['infra/image/build.sh'], {
      cwd: repoRoot,
      env: { ...process.env, LAZARUS_IMAGE_OUT: out },
      maxBuffer: 16 * 1024 * 1024,
    })
    process.stderr.write(`test/image: build ${((Date.now() - t0) / 1000).toFixed(0)} s\n${build.stdout}`)
    tag = readFileSync(join(out, 'tag'), 'utf8').trim()
    const version = tag.slice(tag.lastIndexOf(':') + 1)
    await run('umoci', ['unpack', '--image', `${join(out, 'oci')}:${version}`, bundle], { maxBuffer: 16 * 1024 * 1024 })
    config = (JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: ImageConfig }).process
    try {
      await run('podman', ['run', '--rm', '--network=host', tag, '--help'], { env: { ...process.env, STORAGE_DRIVER: 'vfs' }, timeout: 120_000 })
      runner = 'podman'
    } catch (err) {
      const why = ((err as { stderr?: string }).stderr ?? String(err)).trim().split('\n').pop()
      process.stderr.write(`test/image: podman run does not work here (${why}); running the unpacked image's entrypoint as its user instead\n`)
    }
  }, 900_000)

  afterAll(async () => {
    for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL')
    await Promise.all(started.map((p) => p.exit))
    rmSync(out, { recursive: true, force: true })
  })

  it('runs as a non-root user, with the entrypoint choosing the service', () => {
    expect(config.user).toEqual({ uid: 10001, gid: 10001 })
    expect(config.args).toEqual(['/usr/local/bin/lazarus-image', 'api'])
    expect(config.cwd).toBe('/opt/lazarus')
    expect(readFileSync(join(rootfs, 'etc/passwd'), 'utf8')).toMatch(/^lazarus:x:10001:10001:/m)
    // The application belongs to root: the services cannot change their own code.
    for (const f of ['opt/lazarus/services/api/dist/main.js', 'usr/local/bin/node', 'usr/local/bin/lazarus-image']) {
      const s = statSync(join(rootfs, f))
      expect(s.uid, f).toBe(0)
      expect(s.mode & 0o022, f).toBe(0)
    }
    expect(statSync(join(rootfs, 'tmp')).mode & 0o7777).toBe(0o1777)
  })

  it('holds production dependencies only, and no tests or sources', () => {
    // What only development needs, by pnpm's lockfile: every package not reachable from a
    // workspace's dependencies (pnpm install --prod leaves those out).
    type Deps = Record<string, string | { version: string }> | undefined
    const lock = parse(readFileSync(join(repoRoot, 'pnpm-lock.yaml'), 'utf8')) as {
      importers: Record<string, { dependencies?: Deps; optionalDependencies?: Deps }>
      packages: Record<string, unknown>
      snapshots: Record<string, { dependencies?: Deps; optionalDependencies?: Deps }>
    }
    const nameOf = (key: string): string => key.slice(0, key.indexOf('@', 1))
    const production = new Set<string>()
    const reach = (deps: Deps): void => {
      for (const [name, v] of Object.entries(deps ?? {})) {
        const version = typeof v === 'string' ? v : v.version
        const key = `${name}@${version}`
        if (version.startsWith('link:') || production.has(key)) continue
        production.add(key)
        reach(lock.snapshots[key]?.dependencies)
        reach(lock.snapshots[key]?.optionalDependencies)
      }
    }
    for (const importer of Object.values(lock.importers)) {
      reach(importer.dependencies)
      reach(importer.optionalDependencies)
    }
    const productionNames = new Set([...production].map(nameOf))
    expect(productionNames).toContain('zod')
    expect(productionNames).toContain('@types/node') // through @types/pg, a dependency of packages/db
    const devOnly = [...new Set(Object.keys(lock.packages).map(nameOf))].filter((n) => !productionNames.has(n)).map((n) => `node_modules/${n}`)
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/vitest', 'node_modules/tsx']))
    expect(devOnly.filter((path) => existsSync(join(app, path)))).toEqual([])
    const workspaces = (parse(readFileSync(join(repoRoot, 'pnpm-workspace.yaml'), 'utf8')) as { packages: string[] }).packages
    // Every workspace's production dependencies are there (ours as links to their dist).
    for (const ws of workspaces) {
      const deps = (JSON.parse(readFileSync(join(repoRoot, ws, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {}
      for (const d of Object.keys(deps)) expect(existsSync(join(app, 'node_modules', d)) || existsSync(join(app, ws, 'node_modules', d)), `${ws}: ${d}`).toBe(true)
    }
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.name === 'node_modules' ? [] : e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    const ours = [...files(join(app, 'services')), ...files(join(app, 'packages'))]
    // No TypeScript and no tests; from src/ only the files read at run time (the dashboard's page).
    expect(ours.filter((f) => /\.test\.js$|\.ts$/.test(f) || (f.includes('/src/') && !f.includes('/src/dashboard/assets/')))).toEqual([])
  })

  it('api: answers GET /v1 on a real PostgreSQL and RabbitMQ, as uid 10001', async () => {
    const db = await createTestDatabase(`lazarus_image_${process.pid}`)
    const vhost = await createTestVhost(`lazarus-image-${process.pid}`)
    try {
      const marker = `image-test-${process.pid}-${Date.now()}`
      const api = start(['api'], {
        API_PORT: '0',
        API_HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        AMQP_URL: vhost.url,
        AUTH: 'none',
        COMPUTE_HOST_CHECK: 'off',
        LAZARUS_IMAGE_TEST: marker,
      })
      const line = await api.waitForLine(/api listening/, 120_000)
      const url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
      const res = await fetch(`${url}/v1`)
      expect(res.status).toBe(200)
      expect(JSON.stringify(await res.json())).toMatch(/v1/)
      // The dashboard's page and the API reference, with their files, from the image.
      for (const path of ['/dashboard/', '/dashboard/assets/dashboard.js', '/docs']) expect((await fetch(`${url}${path}`)).status, path).toBe(200)
      // The process serving it (found by its environment; the launchers before it have it too,
      // but run another program): Node from the image, as the image's user.
      const pid = readdirSync('/proc').find((p) => {
        try {
          return (
            /^\d+$/.test(p) &&
            readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`LAZARUS_IMAGE_TEST=${marker}`) &&
            readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/usr/local/bin/node\0')
          )
        } catch {
          return false
        }
      })
      expect(pid, 'the api process').toBeDefined()
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m)
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3)).toEqual(['/usr/local/bin/node', '/usr/local/bin/lazarus-image', 'api'])
      api.child.kill('SIGTERM')
      await api.exit
    } finally {
      await vhost.drop()
      await db.drop()
    }
  }, 240_000)

  it('demo: the whole system in one process recovers the crashed host', async () => {
    const demo = start(['demo', '--hosts', '2', '--instances', '1', '--evacuation-delay-ms', '0'], {})
    const code = await demo.exit
    expect(code, demo.lines.slice(-30).join('\n')).toBe(0)
    expect(demo.lines.join('\n')).toMatch(/Recovery took [\d.]+ s from the crash report to the last instance running elsewhere/)
    expect(demo.lines.join('\n')).toMatch(/succeeded/)
  }, 300_000)

  it('the entrypoint refuses an unknown service', async () => {
    const p = start(['nonsense'], {})
    expect(await p.exit).toBe(2)
    expect(p.lines.join('\n')).toMatch(/usage: lazarus-image api\|detector\|fencer\|evacuator\|ingest\|agent\|demo/)
  }, 120_000)
})
