// Kept only for services/evacuator/src/handlers/evacuation-watch.test.ts, which another
// change rewrites now; the test clouds live in ../testing/clouds.ts. Excluded from the build.
export * from '../testing/clouds.js'
