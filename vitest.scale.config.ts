import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * The long checks: run by `npm run test:fleet-scale`, and by `npm test` beside the default suite
 * (scripts/test.mjs: they mostly wait for minute slots, and are built to pass on a loaded machine).
 * Their files end in `.scale.ts`, so the default suite never sees them; here they run one at a time.
 * (Not merged with vitest.config.ts: mergeConfig would add the default suite's `include` to this one.)
 */
export default defineConfig({
  resolve: { alias: { clipanion: require.resolve('clipanion') } },
  test: {
    include: ['test/scale/**/*.scale.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 20 * 60_000,
    hookTimeout: 5 * 60_000,
    reporters: ['default'],
  },
});
