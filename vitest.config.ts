import { defineConfig } from 'vitest/config'

// Workspace packages resolve to their TypeScript sources in tests (the `@lazarus/source`
// export condition), so unit tests need no build; end-to-end tests run the built services.
const conditions = ['@lazarus/source']

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Unit suites first, all of them, before any integration suite restarts the broker.
          sequence: { groupOrder: 0 },
          // test/architecture.test.ts, test/kubernetes and test/docs read files only: no broker, no build;
          // test/bench holds the benchmarks (run by hand) and unit tests of their pure parts.
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'test/architecture.test.ts',
            'test/kubernetes/*.test.ts',
            'test/docs/*.test.ts',
            'test/bench/*.test.ts',
          ],
          // A suite that needs RabbitMQ, PostgreSQL, NATS or child processes is named
          // *.int.test.ts, wherever it lives, and runs in the integration project.
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.int.test.ts', 'packages/*/src/**/*.int.test.ts', 'services/*/src/**/*.int.test.ts'],
          // Integration suites share the broker and the database: one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
        },
      },
    ],
  },
})
