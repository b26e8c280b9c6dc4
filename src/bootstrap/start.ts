import { fileURLToPath } from 'node:url';
import { loadWithCodeCache } from '../infrastructure/code-cache.js';
import { keepYoungGenerationSmall } from '../infrastructure/heap-tuning.js';

type Main = (argv: string[], env?: NodeJS.ProcessEnv) => Promise<number>;

/**
 * The CLI's start (bin/dbbackup.js): the whole CLI as one CommonJS bundle (dist/bundle/cli.cjs)
 * run with V8's code cache, keyed by the command word (infrastructure/code-cache.ts): no module
 * resolution, linking or compiling of the ESM chunks. DBBACKUP_CODE_CACHE=off runs it without.
 * `save` (after the command) writes the cache when this run had none.
 */
export function startCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { main: Main; save: () => void } {
  // Before the cache is read: V8 rejects a cache made under other flags, and main() sets this one.
  keepYoungGenerationSmall();
  const file = fileURLToPath(new URL('./cli.cjs', import.meta.url));
  // This file sits beside cli.cjs: packages resolve the same from either.
  const importer = (specifier: string) => import(specifier);
  if (env.DBBACKUP_CODE_CACHE === 'off') {
    const { main } = loadWithCodeCache<{ main: Main }>(file, '', importer, env, { cache: false }).exports;
    return { main, save: () => {} };
  }
  const loaded = loadWithCodeCache<{ main: Main }>(file, argv[0] ?? 'none', importer, env);
  return { main: loaded.exports.main, save: loaded.save };
}
