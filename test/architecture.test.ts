import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

/**
 * The service boundaries, read from the source (issue #20, "one room per rule"):
 * - a service never imports another service: what two services share is a package;
 * - production code never imports the cloud simulator or test support;
 * - packages/contracts, which every part speaks, depends on zod alone; packages/api-contract
 *   (the v1 API's schemas and client) on zod and packages/contracts alone; packages/planner
 *   (the recovery planner, pure) on nothing at all, not even node:;
 * - no import cycles: a cycle is two files that are one rule split in two.
 * And the pnpm workspace itself: pnpm-workspace.yaml lists every package and service
 * directory, each package.json is Apache-2.0, and ours depend on each other as `workspace:*`.
 *
 * The one exception is services/all-in-one: the embedded system and the demo are the
 * composition root, built by design from the services themselves and from cloud-sim.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const COMPOSITION_ROOT = 'services/all-in-one'
const CLOUD_SIM = 'packages/cloud-sim'

/**
 * Test support: beside production code but never part of it. It lives in a package's
 * `src/testing/`, which every package's tsconfig excludes from its build (checked below).
 */
const isTestSupport = (file: string): boolean =>
  file.endsWith('.test.ts') || /(^|\/)testing\//.test(file) || file === 'packages/bus/src/bus-contract.ts' || file.startsWith('test/')

interface Workspace {
  /** `packages/bus`, `services/api` */
  dir: string
  name: string
  isService: boolean
}

const workspaceList = (parse(readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')) as { packages: string[] }).packages
const workspaces: Workspace[] = workspaceList.map((dir) => ({
  dir,
  name: (JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { name: string }).name,
  isService: dir.startsWith('services/'),
}))
const byName = new Map(workspaces.map((w) => [w.name, w]))

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })

const toRepo = (abs: string): string => relative(root, abs).split(sep).join('/')

/** Production sources of a workspace: src/**\/*.ts without tests and test support. */
const productionFiles = (w: Workspace): string[] =>
  walk(join(root, w.dir, 'src'))
    .map(toRepo)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !isTestSupport(f))

/** Every module a file names: static imports, `export ... from`, `import type`, dynamic import(). */
const specifiers = (file: string): string[] => ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true).importedFiles.map((f) => f.fileName)

/** The repository file a relative specifier names (`./x.js` is `./x.ts`), or undefined if not TypeScript. */
const resolveRelative = (from: string, spec: string): string | undefined => {
  const base = join(root, dirname(from), spec)
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]
  const hit = candidates.find((c) => c.endsWith('.ts') && existsSync(c) && statSync(c).isFile())
  return hit && toRepo(hit)
}

const workspaceOf = (file: string): Workspace | undefined => workspaces.find((w) => file.startsWith(`${w.dir}/`))

/** `@lazarus/api/x` is `@lazarus/api`; `@scope/pkg/sub` is `@scope/pkg`; `zod/mini` is `zod`. */
const packageName = (spec: string): string =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/')

interface Import {
  from: string
  spec: string
  /** The file a relative import resolves to. */
  target?: string | undefined
}

const imports: Import[] = workspaces.flatMap((w) =>
  productionFiles(w).flatMap((from) => specifiers(from).map((spec) => ({ from, spec, target: spec.startsWith('.') ? resolveRelative(from, spec) : undefined }))),
)

const show = (i: Import): string => `${i.from} imports '${i.spec}'`

describe('architecture', () => {
  it('reads the sources it judges', () => {
    // Guards the test itself: a broken walk or parser would pass every rule below.
    expect(workspaces.filter((w) => w.isService).length).toBeGreaterThanOrEqual(6)
    expect(imports.length).toBeGreaterThan(500)
    expect(imports.some((i) => i.spec === '@lazarus/contracts')).toBe(true)
    expect(imports.filter((i) => i.spec.startsWith('.') && !i.target).map(show)).toEqual([])
  })

  it('a service never imports another service', () => {
    const offending = imports.filter((i) => {
      const own = workspaceOf(i.from)
      if (!own?.isService || own.dir === COMPOSITION_ROOT) return false
      if (i.target) {
        const other = workspaceOf(i.target)
        return other?.isService === true && other.dir !== own.dir
      }
      const other = byName.get(packageName(i.spec))
      return other?.isService === true && other.dir !== own.dir
    })
    expect(offending.map(show)).toEqual([])
  })

  it('a relative import stays inside its own package', () => {
    const offending = imports.filter((i) => i.target && workspaceOf(i.target)?.dir !== workspaceOf(i.from)?.dir)
    expect(offending.map(show)).toEqual([])
  })

  it('production code imports neither the cloud simulator nor test support', () => {
    const offending = imports.filter((i) => {
      const own = workspaceOf(i.from)?.dir
      // The composition root runs on cloud-sim by design (demo, embedded system).
      if (own === COMPOSITION_ROOT || own === CLOUD_SIM) return false
      if (i.target) return isTestSupport(i.target) || i.target.startsWith(`${CLOUD_SIM}/`)
      return ['@lazarus/cloud-sim', 'vitest', 'fast-check'].includes(packageName(i.spec))
    })
    expect(offending.map(show)).toEqual([])
  })

  it('every package builds without its tests and test support', () => {
    const offending = workspaces.filter((w) => {
      const tsconfig = JSON.parse(readFileSync(join(root, w.dir, 'tsconfig.json'), 'utf8')) as { exclude?: string[] }
      return !['src/**/*.test.ts', 'src/testing/**'].every((e) => tsconfig.exclude?.includes(e))
    })
    expect(offending.map((w) => `${w.dir}/tsconfig.json`)).toEqual([])
  })

  it('packages/contracts depends on zod alone', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'packages/contracts/package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
    expect(Object.keys(pkg.dependencies ?? {})).toEqual(['zod'])
    expect(Object.keys(pkg.peerDependencies ?? {})).toEqual([])
    const offending = imports.filter((i) => i.from.startsWith('packages/contracts/') && !i.spec.startsWith('.') && !i.spec.startsWith('node:') && packageName(i.spec) !== 'zod')
    expect(offending.map(show)).toEqual([])
  })

  it('packages/api-contract depends on zod and packages/contracts alone', () => {
    // The v1 contract is shared by the api and every client of it: no service, no I/O library.
    const allowed = ['@lazarus/contracts', 'zod']
    const pkg = JSON.parse(readFileSync(join(root, 'packages/api-contract/package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual(allowed)
    const offending = imports.filter((i) => i.from.startsWith('packages/api-contract/') && !i.spec.startsWith('.') && !allowed.includes(packageName(i.spec)))
    expect(offending.map(show)).toEqual([])
  })

  it('packages/planner depends on nothing: plain data in, plain data out, no I/O', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'packages/planner/package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
    expect(Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies })).toEqual([])
    expect(imports.some((i) => i.from.startsWith('packages/planner/'))).toBe(true)
    const offending = imports.filter((i) => i.from.startsWith('packages/planner/') && !i.spec.startsWith('.'))
    expect(offending.map(show)).toEqual([])
  })

  it('has no import cycles', () => {
    const graph = new Map<string, string[]>()
    for (const i of imports) if (i.target) graph.set(i.from, [...(graph.get(i.from) ?? []), i.target])
    const cycles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const path: string[] = []
    const visit = (file: string): void => {
      state.set(file, 'open')
      path.push(file)
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '))
        else if (!state.has(next)) visit(next)
      }
      path.pop()
      state.set(file, 'done')
    }
    for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file)
    expect(cycles).toEqual([])
  })

  it('pnpm-workspace.yaml lists every package and service directory, and nothing else', () => {
    const dirs = ['packages', 'services'].flatMap((top) =>
      readdirSync(join(root, top), { withFileTypes: true })
        .filter((e) => e.isDirectory() && existsSync(join(root, top, e.name, 'package.json')))
        .map((e) => `${top}/${e.name}`),
    )
    expect(dirs.length).toBeGreaterThanOrEqual(15)
    expect([...workspaceList].sort()).toEqual(dirs.sort())
    expect(new Set(workspaceList).size).toBe(workspaceList.length)
  })

  it('every package.json is Apache-2.0, and our packages depend on each other as workspace:*', () => {
    const manifests = ['.', ...workspaceList].map((dir) => ({
      file: dir === '.' ? 'package.json' : `${dir}/package.json`,
      pkg: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as { license?: string } & Record<string, unknown>,
    }))
    expect(manifests.filter((m) => m.pkg.license !== 'Apache-2.0').map((m) => m.file)).toEqual([])
    const internal = manifests.flatMap(({ file, pkg }) =>
      ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].flatMap((field) =>
        Object.entries((pkg[field] ?? {}) as Record<string, string>)
          .filter(([name]) => byName.has(name) || name.startsWith('@lazarus/'))
          .map(([name, range]) => ({ file, name, range })),
      ),
    )
    expect(internal.length).toBeGreaterThan(40)
    expect(internal.filter((d) => d.range !== 'workspace:*' || !byName.has(d.name)).map((d) => `${d.file}: ${d.name}@${d.range}`)).toEqual([])
  })
})
