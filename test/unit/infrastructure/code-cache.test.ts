import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadWithCodeCache } from '../../../src/infrastructure/code-cache.js';
import { tempDir } from '../../helpers/temp.js';

// A bundle as scripts/bundle.mjs makes cli.cjs: CommonJS, its import() calls written as __import().
const BUNDLE = `const os = require('node:os');
exports.double = (n) => n * 2;
exports.arch = () => __import('node:os').then((m) => m.arch() === os.arch());
exports.where = __filename;
`;
const importer = (specifier: string) => import(specifier);

let dir: { path: string; cleanup(): Promise<void> };
let file: string;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  dir = await tempDir('dbb-code-cache-');
  file = join(dir.path, 'cli.cjs');
  writeFileSync(file, BUNDLE);
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data') };
});
afterEach(() => dir.cleanup());

type Bundle = { double(n: number): number; arch(): Promise<boolean>; where: string };
const load = (key = 'backup') => loadWithCodeCache<Bundle>(file, key, importer, env);
const cacheFiles = (folder: string) => readdirSync(folder).filter((f) => f.endsWith('.v8cache'));

describe('loadWithCodeCache', () => {
  it('runs the bundle as require would, saves a 0600 cache beside it after the run, and uses it the next time', async () => {
    const first = load();
    expect(first.status).toBe('missing');
    expect(first.exports.double(21)).toBe(42);
    expect(first.exports.where).toBe(file);
    expect(await first.exports.arch()).toBe(true);
    first.save();
    const [name] = cacheFiles(join(dir.path, '.v8-cache'));
    expect(name).toMatch(/^cli\.cjs-backup-v\d+\.\d+\.\d+-\w+-[0-9a-f]{20}\.v8cache$/);
    expect(statSync(join(dir.path, '.v8-cache', name!)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir.path, '.v8-cache')).mode & 0o777).toBe(0o700);

    const second = load();
    expect(second.status).toBe('used');
    expect(second.exports.double(2)).toBe(4);
    // Another command word has a cache of its own.
    expect(load('restore').status).toBe('missing');
  });

  it('ignores a corrupt cache (the run goes on) and writes a good one after', () => {
    load().save();
    const folder = join(dir.path, '.v8-cache');
    const path = join(folder, cacheFiles(folder)[0]!);
    const bytes = readFileSync(path);
    bytes[bytes.length - 10]! ^= 0xff;
    writeFileSync(path, bytes);
    const corrupt = load();
    expect(corrupt.status).toBe('corrupt');
    expect(corrupt.exports.double(3)).toBe(6);
    corrupt.save();
    expect(load().status).toBe('used');

    writeFileSync(path, bytes.subarray(0, 20));
    expect(load().status).toBe('corrupt');
  });

  it('a changed bundle does not read the old cache; saving removes the old build\'s', () => {
    load().save();
    writeFileSync(file, `${BUNDLE}exports.more = 1;\n`);
    const changed = load();
    expect(changed.status).toBe('missing');
    changed.save();
    expect(cacheFiles(join(dir.path, '.v8-cache'))).toHaveLength(1);
    expect(load().status).toBe('used');
  });

  it('where the bundle\'s folder cannot take it (a read-only install), the cache goes to the data dir', () => {
    // A file where the cache folder would be: nothing can be written under it, even as root.
    writeFileSync(join(dir.path, '.v8-cache'), 'not a folder');
    const first = load();
    first.save();
    expect(cacheFiles(join(dir.path, 'data', 'v8-cache'))).toHaveLength(1);
    const second = load();
    expect(second.status).toBe('used');
    expect(second.exports.double(5)).toBe(10);
  });

  it('a cache nowhere writable: the run still works and saving fails silently', () => {
    writeFileSync(join(dir.path, '.v8-cache'), 'not a folder');
    writeFileSync(join(dir.path, 'data'), 'not a folder either');
    const run = load();
    expect(() => run.save()).not.toThrow();
    expect(load().status).toBe('missing');
    expect(load().exports.double(1)).toBe(2);
  });

  it('without the cache (DBBACKUP_CODE_CACHE=off in start.ts): nothing read or written', () => {
    const run = loadWithCodeCache<Bundle>(file, 'backup', importer, env, { cache: false });
    run.save();
    expect(run.exports.double(4)).toBe(8);
    expect(() => readdirSync(join(dir.path, '.v8-cache'))).toThrow();
  });

  it('a cache written by a run that compiled little is rewritten by a refresh run that compiled more (and only then)', () => {
    // A bundle with a large function the first run never calls: V8 compiles it lazily, so the first cache lacks it.
    // (Runs in one process share V8's compilation of the same source: hence this order, refresh before \`big\` runs.)
    const body = Array.from({ length: 400 }, (_, i) => `  t += (n ^ ${i}) * ${i + 1} % 7;`).join('\n');
    writeFileSync(file, `exports.small = (n) => n + 1;\nexports.big = (n) => {\n  let t = 0;\n${body}\n  return t;\n};\n`);
    type Two = { small(n: number): number; big(n: number): number };
    const folder = join(dir.path, '.v8-cache');
    const size = () => statSync(join(folder, cacheFiles(folder)[0]!)).size;
    const first = loadWithCodeCache<Two>(file, 'backup', importer, env);
    first.exports.small(1);
    first.save();
    const before = size();

    // A refresh run that compiled nothing more keeps the file as it is.
    const same = loadWithCodeCache<Two>(file, 'backup', importer, env, { refresh: true });
    same.exports.small(2);
    same.save();
    expect(size()).toBe(before);

    // A used cache without refresh is never rewritten, whatever the run compiled.
    const plain = loadWithCodeCache<Two>(file, 'backup', importer, env, { refresh: false });
    expect(plain.status).toBe('used');
    plain.exports.big(3);
    plain.save();
    expect(size()).toBe(before);

    const bigger = loadWithCodeCache<Two>(file, 'backup', importer, env, { refresh: true });
    expect(bigger.status).toBe('used');
    expect(bigger.exports.big(3)).toBe(plain.exports.big(3));
    bigger.save();
    expect(size()).toBeGreaterThan(before);
    expect(loadWithCodeCache<Two>(file, 'backup', importer, env).status).toBe('used');
  });
});
