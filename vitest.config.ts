import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // clipanion 3 ships CJS + ESM entry points that vitest resolves differently from node.
    alias: { clipanion: require.resolve('clipanion') },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // The real-mongod suite needs a server this machine cannot install: it is part of the run only
    // when MONGODB_URI (or MONGODB_SHARDED_URI, a mongos) names one (see README), and never shows up as a skipped test otherwise.
    exclude: ['**/node_modules/**', ...(process.env.MONGODB_URI || process.env.MONGODB_SHARDED_URI ? [] : ['test/integration/mongodb/real-server.test.ts'])],
    // backup/replicate lower their own CPU priority for a database on this host (--nice auto: 10), and
    // every server the suite starts is local: its CLI runs keep the runner's priority, as the suite's
    // time budget was measured, instead of yielding to the other worker's file.
    env: { DBBACKUP_NICE: '0' },
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
