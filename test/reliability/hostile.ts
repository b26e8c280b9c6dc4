// Hostile input, property-based (fast-check): random and mutated valid configs, manifests and
// archives. Whatever the input, the code under test either accepts it or throws a DbBackupError
// whose code has a documented exit code: never another exception (which the CLI would print as a
// stack trace), never a hang. Archive entries that climb out (`../`, absolute, NUL) are refused.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import { ZipArchiveReader } from '../../src/adapters/storage/archive/zip-archive.js';
import { TarGzArchiveReader } from '../../src/adapters/storage/archive/tar-gz-archive.js';
import { LocalBlobStore } from '../../src/adapters/storage/local/local-blob-store.js';
import { verifyParts } from '../../src/application/pipeline/part-reader.js';
import { readManifest, scanRepository } from '../../src/application/services/backup-repository.js';
import { exitCodeFor, type ErrorCode, isDbBackupError } from '../../src/domain/errors.js';
import { loadConfig } from '../../src/infrastructure/config/load-config.js';
import { runCli } from './cli-watch.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { cliShapeProblems, codecs } from './checks.js';

/** A hang is a failure: each input gets this long (generous: the machine is shared). */
const HANG_MS = 20_000;

/** undefined when `work` accepted the input or refused it properly; otherwise what went wrong. */
async function outcome(work: () => Promise<unknown>): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`HANG: no answer in ${HANG_MS} ms`)), HANG_MS);
      }),
    ]);
    return undefined;
  } catch (err) {
    if (isDbBackupError(err) && exitCodeFor(err.code as ErrorCode) !== undefined) return undefined;
    return `${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`.slice(0, 300);
  } finally {
    clearTimeout(timer);
  }
}

/** Flips, deletes, duplicates and inserts bytes: mutations of a valid input. */
const mutation = (length: number) =>
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(Math.max(0, length - 1)), bit: fc.nat(7) }),
      fc.record({ op: fc.constant('cut' as const), at: fc.nat(length), n: fc.nat(64) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(length), bytes: fc.uint8Array({ maxLength: 32 }) }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat(length) }),
    ),
    { minLength: 1, maxLength: 6 },
  );

type Mutation = ReturnType<typeof mutation> extends fc.Arbitrary<infer T> ? T : never;

function mutate(input: Buffer, ops: Mutation): Buffer {
  let b = Buffer.from(input);
  for (const m of ops) {
    if (m.op === 'flip' && b.length) b[m.at % b.length]! ^= 1 << m.bit;
    else if (m.op === 'cut') b = Buffer.concat([b.subarray(0, m.at), b.subarray(m.at + m.n)]);
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, m.at), Buffer.from(m.bytes), b.subarray(m.at)]);
    else if (m.op === 'truncate') b = b.subarray(0, m.at);
  }
  return b;
}

export interface PropertyResult {
  variant: string;
  runs: number;
  failures: { seed: number; what: string; problems: string[] }[];
}

/** Runs one property for `runs` inputs; a counterexample (shrunk) is the failure. */
async function property<T>(variant: string, runs: number, seed: number, arb: fc.Arbitrary<T>, check: (value: T) => Promise<string | undefined>): Promise<PropertyResult> {
  const details = await fc.check(
    fc.asyncProperty(arb, async (v) => (await check(v)) === undefined),
    { numRuns: runs, seed, endOnFailure: false, maxSkipsPerRun: 0 },
  );
  if (!details.failed) return { variant, runs, failures: [] };
  const example = details.counterexample?.[0] as T;
  const problem = await check(example);
  const shown = Buffer.isBuffer(example) ? `${example.length} bytes: ${example.subarray(0, 120).toString('latin1')}` : JSON.stringify(example)?.slice(0, 300);
  return { variant, runs: details.numRuns, failures: [{ seed, what: `${variant}: counterexample ${shown} (path ${details.counterexamplePath})`, problems: [problem ?? 'failed'] }] };
}

export async function hostileBench(dir: string) {
  await mkdir(dir, { recursive: true });
  const env = { DBBACKUP_DATA_DIR: join(dir, 'data'), XDG_STATE_HOME: join(dir, 'state'), TMPDIR: dir };
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });
  const db = join(dir, 'source.db');
  createNastyDatabase(db);
  const made = await cli('backup', '--file', db, '--out', 'repo', '--json');
  if (made.code !== 0) throw new Error(`backup failed: ${made.stderr}`);
  const { id, source } = JSON.parse(made.stdout) as { id: string; source: string };
  const manifestText = await readFile(join(dir, 'repo', source, id, 'manifest.json'));
  for (const ext of ['tar.gz', 'zip']) {
    const a = await cli('backup', '--file', db, '--out', `valid.${ext}`);
    if (a.code !== 0) throw new Error(`archive backup failed: ${a.stderr}`);
  }
  const archives = { 'tar.gz': await readFile(join(dir, 'valid.tar.gz')), zip: await readFile(join(dir, 'valid.zip')) };
  const config = Buffer.from(`defaults: { compression: zstd, level: 1 }
sources:
  app: { engine: sqlite, database: ${db} }
  pg: { engine: postgres, url: "postgres://u@127.0.0.1:5432/app", password: "\${PGPASS}" }
targets:
  disk: { url: ${join(dir, 'repo')} }
backups:
  app: { targets: [disk], retention: { keep-last: 3 } }
schedules:
  - { name: nightly, cron: "0 2 * * *", task: backup, source: app }
notifications:
  - { type: webhook, url: "http://127.0.0.1:9/hook", on: [failure] }
`);
  let n = 0;
  const file = async (bytes: Buffer, ext: string) => {
    const path = join(dir, `input-${n++}.${ext}`);
    await writeFile(path, bytes);
    return path;
  };

  /** Reads an archive as a restore would: list, manifests, every part decoded and checked. */
  const readArchive = async (path: string, ext: 'tar.gz' | 'zip') => {
    const store = ext === 'tar.gz' ? new TarGzArchiveReader(path) : new ZipArchiveReader(path);
    try {
      const { manifests } = await scanRepository(store);
      for (const m of manifests) await verifyParts(store, m, codecs, undefined, AbortSignal.timeout(HANG_MS));
    } finally {
      (store as { close?(): void }).close?.();
    }
  };

  return {
    /** Each property with `runs` inputs; seeded. */
    async properties(runs: number, seed: number): Promise<PropertyResult[]> {
      const results: PropertyResult[] = [];
      results.push(
        await property('config: mutated', runs, seed, mutation(config.length), async (ops) => {
          const path = await file(mutate(config, ops), 'yaml');
          return outcome(() => loadConfig({ path, env: { PGPASS: 'x' } }));
        }),
      );
      results.push(
        await property('config: random JSON', runs, seed, fc.jsonValue({ maxDepth: 6 }), async (value) => {
          const path = await file(Buffer.from(JSON.stringify(value)), 'json');
          return outcome(() => loadConfig({ path, env: {} }));
        }),
      );
      results.push(
        await property('manifest: mutated', runs, seed, mutation(manifestText.length), async (ops) => {
          const store = new LocalBlobStore(join(dir, `m-${n++}`));
          await store.put(`${source}/${id}/manifest.json`, Readable.from([mutate(manifestText, ops)]));
          return outcome(() => readManifest(store, source, id));
        }),
      );
      results.push(
        await property('manifest: fields replaced', runs, seed, fc.tuple(fc.constantFrom('formatVersion', 'id', 'source', 'engine', 'kind', 'parts', 'objects', 'startedAt', 'parent', 'encryption', 'position'), fc.jsonValue({ maxDepth: 4 })), async ([field, value]) => {
          const m = JSON.parse(manifestText.toString()) as Record<string, unknown>;
          m[field] = value;
          const store = new LocalBlobStore(join(dir, `m-${n++}`));
          await store.put(`${source}/${id}/manifest.json`, Readable.from([Buffer.from(JSON.stringify(m))]));
          return outcome(async () => {
            const read = await readManifest(store, source, id);
            await verifyParts(store, read, codecs, undefined, AbortSignal.timeout(HANG_MS));
          });
        }),
      );
      for (const ext of ['tar.gz', 'zip'] as const) {
        results.push(
          await property(`${ext}: mutated`, runs, seed, mutation(archives[ext].length), async (ops) => {
            const path = await file(mutate(archives[ext], ops), ext);
            return outcome(() => readArchive(path, ext));
          }),
        );
      }
      return results;
    },

    /** Archives whose entries climb out of the backup's folder: refused, or never exposed as keys. */
    async traversal(): Promise<PropertyResult> {
      const failures: PropertyResult['failures'] = [];
      const names = ['../evil.txt', '/etc/evil.txt', `${source}/../../evil.txt`, `${source}/a\0b.txt`, 'C:\\evil.txt'];
      for (const name of names) {
        for (const ext of ['tar.gz', 'zip'] as const) {
          const bytes = ext === 'zip' ? Buffer.from(zipSync({ [name]: new Uint8Array(Buffer.from('x')), 'dbbackup-repo.json': new Uint8Array(Buffer.from('{}')) })) : gzipSync(tarOf([[name, Buffer.from('x')], ['dbbackup-repo.json', Buffer.from('{}')]]));
          const path = await file(bytes, ext);
          const store = ext === 'tar.gz' ? new TarGzArchiveReader(path) : new ZipArchiveReader(path);
          const problems: string[] = [];
          try {
            for await (const info of store.list('')) {
              if (info.key.split('/').includes('..') || info.key.startsWith('/') || info.key.includes('\0') || info.key.includes('\\')) problems.push(`the reader lists the entry ${JSON.stringify(info.key)}`);
            }
          } catch (err) {
            if (!isDbBackupError(err)) problems.push(`not a DbBackupError: ${(err as Error).message}`);
          } finally {
            (store as { close?(): void }).close?.();
          }
          const r = await cli('verify', path);
          problems.push(...cliShapeProblems(r, [4]));
          if (problems.length) failures.push({ seed: 0, what: `${ext} with an entry ${JSON.stringify(name)}`, problems });
        }
      }
      return { variant: 'archive entry traversal', runs: names.length * 2, failures };
    },

    /** A few mutated configs through the CLI: one `error E_…` line, exit 0 or 2, no stack trace. */
    async cliConfigs(runs: number, seed: number): Promise<PropertyResult> {
      const failures: PropertyResult['failures'] = [];
      const samples = fc.sample(mutation(config.length), { numRuns: runs, seed });
      for (const ops of samples) {
        const path = await file(mutate(config, ops), 'yaml');
        const r = await cli('--config', path, 'config', 'validate');
        const problems = cliShapeProblems(r, [0, 2]);
        if (problems.length) failures.push({ seed, what: `config validate of ${path}`, problems });
      }
      return { variant: 'cli: config validate', runs: samples.length, failures };
    },
  };
}

/** A minimal ustar archive (names up to 100 bytes), as a crafted file would be. */
function tarOf(entries: [string, Buffer][]): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, body] of entries) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'latin1');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
