// Kept only for services/api/src/store/accept.test.ts, which another change rewrites now;
// the harness lives in ./testing/harness.ts. Excluded from the build like src/testing.
export * from './testing/harness.js'
