import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { defaultDataDir } from './paths.js';

/**
 * Runs a CommonJS bundle the way Node's require would, with V8's code cache: the bytecode of every
 * function a run compiled, saved after that run and handed back to V8 by the next, which then
 * neither parses nor compiles them (Node 20 has no compile cache of its own; 22 has
 * module.enableCompileCache). One cache per `key` (the command: each compiles other functions).
 *
 * Where: `<bundle's folder>/.v8-cache/` when that can be written (the installed package), else
 * `<data dir>/v8-cache/` (a read-only install); files 0600, folders 0700. A file's name holds the
 * Node version, the architecture and the bundle's hash, so another Node or another build never
 * reads it; its first 32 bytes are the sha256 of the rest (V8 itself checks only lengths and
 * versions). A cache that is missing, unreadable, corrupt or rejected by V8 is ignored and written
 * anew after the run; nothing here ever fails a run (the bundle then runs as plain source).
 *
 * A cache holds what the run that wrote it compiled: a first run that did little (an empty
 * database, a failed connection) leaves one that later, bigger runs outgrow, compiling the rest
 * every time. So one run in REFRESH_EVERY that used a cache (all of them with `refresh`) serializes
 * it again after its work and rewrites it when it grew by more than REFRESH_GROWTH.
 */
export interface CachedBundle<T> {
  exports: T;
  /** Saves the cache when this run had none it could use: call it once the work is done (the functions it compiled go in). Never throws. */
  save(): void;
  /** What happened, for tests and benches: 'used', or why it was not. */
  status: 'used' | 'missing' | 'corrupt' | 'rejected';
}

// `__import` stands for import(): the bundle's import() calls are written as calls of it (scripts/bundle.mjs),
// since a vm.Script's own import() needs an experimental API in Node 20.
const WRAPPER = ['(function (exports, require, module, __filename, __dirname, __import) {', '\n})'] as const;

/** How the bundle's import() calls load a module: an import() in the caller's module, next to the bundle. */
export type Importer = (specifier: string) => Promise<unknown>;
const SUFFIX = '.v8cache';
const REFRESH_EVERY = 16;
const REFRESH_GROWTH = 1.05;

export function loadWithCodeCache<T>(
  file: string,
  key: string,
  importer: Importer,
  env: NodeJS.ProcessEnv = process.env,
  options: { cache?: boolean; refresh?: boolean } = {},
): CachedBundle<T> {
  // ASCII text is decoded as one-byte text, several times faster than as UTF-8.
  const bytes = readFileSync(file);
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 20);
  const build = `${process.version}-${process.arch}-${hash}`;
  const name = `${basename(file)}-${safeKey(key)}-${build}${SUFFIX}`;
  const dirs = [join(dirname(file), '.v8-cache'), join(defaultDataDir(env), 'v8-cache')];
  const found = options.cache === false ? { status: 'missing' as const } : readCache(dirs, name);
  const script = new Script(WRAPPER[0] + source + WRAPPER[1], { filename: file, ...(found.data ? { cachedData: found.data } : {}) });
  const status = found.data ? (script.cachedDataRejected ? 'rejected' : 'used') : found.status === 'corrupt' ? 'corrupt' : 'missing';
  const module = { exports: {} as T };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file), importer);
  const refresh = status === 'used' && (options.refresh ?? Math.random() * REFRESH_EVERY < 1);
  let saved = (status === 'used' && !refresh) || options.cache === false;
  return {
    exports: module.exports,
    status,
    save: () => {
      if (saved) return;
      saved = true;
      try {
        const data = script.createCachedData();
        if (refresh && data.length <= found.data!.length * REFRESH_GROWTH) return;
        writeCache(dirs, name, build, data);
      } catch {
        // No cache this time: the next run compiles, as this one did.
      }
    },
  };
}

/** A command word as a file name part: letters, digits and dashes, else 'other'. */
function safeKey(key: string): string {
  return /^[a-z0-9-]{1,32}$/i.test(key) ? key.toLowerCase() : 'other';
}

function readCache(dirs: string[], name: string): { data?: Buffer; status: 'found' | 'missing' | 'corrupt' } {
  for (const dir of dirs) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, name));
    } catch {
      continue;
    }
    const data = bytes.subarray(32);
    if (bytes.length > 32 && createHash('sha256').update(data).digest().equals(bytes.subarray(0, 32))) return { data, status: 'found' };
    return { status: 'corrupt' };
  }
  return { status: 'missing' };
}

/** Into the first folder that takes it (temp file, then rename: readers never see half a file); older builds' caches there are removed. */
function writeCache(dirs: string[], name: string, build: string, data: Buffer): void {
  const bytes = Buffer.concat([createHash('sha256').update(data).digest(), data]);
  for (const dir of dirs) {
    const temp = join(dir, `.${name}.${process.pid}.tmp`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(temp, bytes, { mode: 0o600 });
      renameSync(temp, join(dir, name));
    } catch {
      try {
        rmSync(temp, { force: true });
      } catch {
        // `dir` is no folder at all.
      }
      continue;
    }
    for (const other of readdirSync(dir)) {
      if (other.endsWith(SUFFIX) && !other.endsWith(`${build}${SUFFIX}`)) rmSync(join(dir, other), { force: true });
    }
    return;
  }
}
