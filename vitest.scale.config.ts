import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The long checks run by `npm run test:fleet-scale` (not part of `npm test`: the suite must stay
 * well under 20 min). Their files end in `.scale.ts`, so the default suite never sees them at all
 * (no skipped test); here they run alone, one at a time.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/scale/**/*.scale.ts'],
      maxWorkers: 1,
      testTimeout: 20 * 60_000,
      hookTimeout: 5 * 60_000,
    },
  }),
);
