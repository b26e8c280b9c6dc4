import { fileURLToPath } from 'node:url';
import { loadWithCodeCache } from '../infrastructure/code-cache.js';
import { keepYoungGenerationSmall, steadyOldGeneration } from '../infrastructure/heap-tuning.js';

type Main = (argv: string[], env?: NodeJS.ProcessEnv) => Promise<number>;

/**
 * The CLI's start (bin/dbbackup.js): the whole CLI as one CommonJS bundle (dist/bundle/cli.cjs)
 * run with V8's code cache, keyed by the command word and engine (cacheKey; infrastructure/code-cache.ts): no module
 * resolution, linking or compiling of the ESM chunks. DBBACKUP_CODE_CACHE=off runs it without.
 * `save` (after the command) writes the cache when this run had none.
 */
export function startCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { main: Main; save: () => void } {
  // Before the cache is read: V8 rejects a cache made under other flags, and main() sets this one.
  keepYoungGenerationSmall();
  steadyOldGeneration();
  const file = fileURLToPath(new URL('./cli.cjs', import.meta.url));
  // This file sits beside cli.cjs: packages resolve the same from either.
  const importer = (specifier: string) => import(specifier);
  if (env.DBBACKUP_CODE_CACHE === 'off') {
    const { main } = loadWithCodeCache<{ main: Main }>(file, '', importer, env, { cache: false }).exports;
    return { main, save: () => {} };
  }
  const loaded = loadWithCodeCache<{ main: Main }>(file, cacheKey(argv), importer, env);
  return { main: loaded.exports.main, save: loaded.save };
}

/** URL schemes that name an engine, as the connectors spell it. */
const SCHEMES: Record<string, string> = { postgres: 'postgres', postgresql: 'postgres', mysql: 'mysql', mariadb: 'mysql', mongodb: 'mongodb', 'mongodb+srv': 'mongodb' };

/**
 * The code cache's key: the command word and, when the arguments say it (`--db`, a URL's scheme,
 * `--file`), the engine. Each engine runs other functions: a cache made by an SQLite backup holds
 * none of the PostgreSQL connector's (a PostgreSQL backup then compiles them all, every run), and one
 * made by a PostgreSQL backup makes an SQLite backup deserialize code it never runs.
 */
export function cacheKey(argv: readonly string[]): string {
  const command = argv[0] ?? 'none';
  let engine: string | undefined;
  for (let i = 1; i < argv.length && engine === undefined; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, argv[i + 1]];
    if (flag === '--db') engine = inline;
    else if (flag === '--url') engine = SCHEMES[/^([a-z+]+):/i.exec(inline ?? '')?.[1]?.toLowerCase() ?? ''];
    else if (flag === '--file') engine = 'sqlite';
  }
  return engine && /^[a-z0-9]{1,16}$/i.test(engine) ? `${command}-${engine.toLowerCase()}` : command;
}
