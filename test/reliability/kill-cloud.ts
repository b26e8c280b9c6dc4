// Kill -9 at a random moment of a backup fanned out to two cloud repositories (S3, Azure, GCS: two
// of them per trial), of a prune and of a key rewrap on a cloud repository. The stores: s3rver with
// the multipart listing it lacks (test/helpers/s3-uploads-server.ts), azurite, and our GCS JSON-API
// double (test/helpers/gcs-fake.ts). After each kill: every backup either repository lists verifies,
// nothing half-written is listed, the catalog opens, and the next run of the same operation succeeds
// without manual cleanup. What a killed upload leaves outside the objects is counted: S3 multipart
// uploads (which bill until aborted: the next `prune` past the orphan grace must leave none), Azure
// uncommitted blocks and GCS resumable sessions (both expire on the service's side; a figure here).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { LocalRepositoryOpener } from '../../src/adapters/storage/repository-opener.js';
import { storageOptionsFromEnv } from '../../src/adapters/storage/cloud/storage-options.js';
import { AZURITE_KEY, type Azurite, startAzurite } from '../helpers/azurite.js';
import { type GcsFake, startGcsFake } from '../helpers/gcs-fake.js';
import { S3RVER_CREDENTIALS, s3CliEnv } from '../helpers/s3-server.js';
import { type S3UploadsServer, startS3UploadsServer } from '../helpers/s3-uploads-server.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { checkCatalog, checkRepository, runAndKill } from './checks.js';
import { runCli, setPhase } from './cli-watch.js';
import { rng } from './harness.js';

export const CLOUD_KILL_OPERATIONS = ['backup fan-out', 'prune', 'key rewrap'] as const;
export type CloudKillOperation = (typeof CLOUD_KILL_OPERATIONS)[number];
type Provider = 's3' | 'azure' | 'gcs';
const PROVIDERS: Provider[] = ['s3', 'azure', 'gcs'];
/** The fan-out pairs, one per trial in turn. */
const PAIRS: [Provider, Provider][] = [
  ['s3', 'azure'],
  ['azure', 'gcs'],
  ['gcs', 's3'],
];
const BUCKET = 'kills';

type Trial = { variant: string; what: string; problems: string[] };

export async function cloudKillBench(dir: string, bigMiB = process.env.RELIABILITY_TRIALS ? 12 : 6) {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  // Each store starts when a trial first needs it (the CI mode runs one operation: it starts one or two).
  let s3: S3UploadsServer | undefined;
  let azurite: Azurite | undefined;
  let gcs: GcsFake | undefined;
  let container: ContainerClient | undefined;
  const stop = () => Promise.allSettled([s3?.stop(), azurite?.stop(), gcs?.stop()]).then(() => undefined);
  const dataDir = join(dir, 'data');
  const env: NodeJS.ProcessEnv = {
    // 5 MiB parts: the big database's data part goes up as a multipart upload / several blocks / chunks.
    DBBACKUP_STORAGE_PART_SIZE_MIB: '5',
    DBBACKUP_DATA_DIR: dataDir,
    XDG_STATE_HOME: join(dir, 'state'),
    TMPDIR: join(dir, 'tmp'),
  };
  const need = async (...providers: Provider[]) => {
    for (const p of providers) {
      if (p === 's3' && !s3) {
        s3 = await startS3UploadsServer([BUCKET]);
        Object.assign(env, s3CliEnv(s3, dir));
      } else if (p === 'azure' && !azurite) {
        azurite = await startAzurite();
        container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(BUCKET);
        await container.create();
        Object.assign(env, { DBBACKUP_AZURE_ENDPOINT: azurite.endpoint, AZURE_STORAGE_KEY: AZURITE_KEY });
      } else if (p === 'gcs' && !gcs) {
        gcs = await startGcsFake();
        gcs.createBucket(BUCKET);
        env.DBBACKUP_GCS_ENDPOINT = gcs.endpoint;
      }
    }
  };
  try {
    // In this process the SDK's credential chain would read process.env: give the emulator's keys.
    const opener = new LocalRepositoryOpener(() => {
      const o = storageOptionsFromEnv(env);
      return { ...o, s3: { ...o.s3, credentials: S3RVER_CREDENTIALS } };
    });
    const cli = (...args: string[]) => runCli(args, { env, cwd: dir });
    const url = (p: Provider, name: string) =>
      p === 's3' ? `s3://${BUCKET}/${name}` : p === 'azure' ? `azure://devstoreaccount1/${BUCKET}/${name}` : `gs://${BUCKET}/${name}`;

    // Incompressible rows: the data part is about `bigMiB` MiB however it is compressed (over 5 MiB: several parts).
    const big = join(dir, 'big.db');
    const small = join(dir, 'small.db');
    for (const [file, rows, size] of [[big, Math.round((bigMiB * 1024) / 2), 2048], [small, 200, 500]] as const) {
      const d = new Database(file);
      d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB);
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rows}) INSERT INTO t SELECT x, randomblob(${size}) FROM c;`);
      d.close();
    }

    /** What killed uploads left outside the objects of repository `name` on `p`. */
    const leftovers = async (p: Provider, name: string): Promise<string[]> => {
      if (p === 's3') return (await s3!.pendingUploads(BUCKET)).filter((k) => k.startsWith(`${name}/`));
      if (p === 'gcs') return gcs!.openSessions().filter((k) => k.startsWith(`${BUCKET}/${name}/`));
      const committed = new Set<string>();
      for await (const b of container!.listBlobsFlat({ prefix: `${name}/` })) committed.add(b.name);
      const out: string[] = [];
      for await (const b of container!.listBlobsFlat({ prefix: `${name}/`, includeUncommitedBlobs: true })) if (!committed.has(b.name)) out.push(b.name);
      return out;
    };
    /** Every object under the repository that belongs to no listed backup (what an orphan sweep must remove). */
    const unlisted = async (repository: string, ids: string[]): Promise<string[]> => {
      const repo = await opener.open(repository, 'read');
      try {
        const out: string[] = [];
        for await (const o of repo.store.list('')) {
          const id = o.key.split('/')[1];
          if (o.key.includes('/') && id && !ids.includes(id)) out.push(o.key);
        }
        return out;
      } finally {
        await repo.close();
      }
    };
    const checks = async (repository: string, storedOnly = false) => {
      let after: { ids: string[]; problems: string[] };
      try {
        after = await checkRepository(repository, { opener, storedOnly });
      } catch (err) {
        // A run killed before it wrote the repository's marker leaves no repository: fine if it lists nothing.
        if ((err as { code?: string }).code !== 'E_NOT_FOUND') throw err;
        const manifests = (await unlisted(repository, [])).filter((k) => k.endsWith('/manifest.json'));
        after = { ids: [], problems: manifests.length ? [`manifests with no repository marker: ${manifests.join(', ')}`] : [] };
      }
      return { ids: after.ids, problems: [...after.problems, ...(await checkCatalog(dataDir, repository, after.ids))] };
    };
    const idOf = (stdout: string) => JSON.parse(stdout) as { id: string; source: string };
    const timed = async (args: string[]) => {
      const started = Date.now();
      const r = await cli(...args);
      if (r.code !== 0) throw new Error(`${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return { ms: Date.now() - started, stdout: r.stdout };
    };

    // The untouched runs' durations bound the kill moments: each measured on the operation's first trial.
    const fanArgs = (pair: [Provider, Provider]) => ['backup', '--file', big, ...pair.flatMap((p) => ['--out', url(p, 'fan')])];
    const once = <T>(make: () => Promise<T>) => {
      let made: Promise<T> | undefined;
      return () => (made ??= make());
    };
    const fanMs = once(async () => {
      await need('s3', 'azure');
      return (await timed([...fanArgs(['s3', 'azure']), '--json'])).ms;
    });

    // Prune: one template backup per provider, copied (through the store) under older ids to give each prune work.
    const templates = new Map<Provider, { id: string; source: string }>();
    let clones = 0;
    const addPrunable = async (p: Provider, n: number) => {
      await need(p);
      const repository = url(p, 'prune');
      let t = templates.get(p);
      if (!t) templates.set(p, (t = idOf((await timed(['backup', '--file', small, '--out', repository, '--json'])).stdout)));
      const repo = await opener.open(repository, 'write');
      try {
        const from = `${t.source}/${t.id}/`;
        const keys: string[] = [];
        for await (const o of repo.store.list(from)) keys.push(o.key.slice(from.length));
        for (let k = 0; k < n; k++) {
          clones++;
          const stamp = new Date(Date.UTC(2026, 0, 1) + clones * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
          const id = `${stamp}-full-${(clones % 1296).toString(36).padStart(4, 'a')}`;
          // Parts first, the manifest last (as a backup writes them).
          for (const key of [...keys.filter((x) => x !== 'manifest.json'), 'manifest.json']) {
            const bytes = Buffer.concat(await (await repo.store.get(`${from}${key}`)).toArray());
            const body = key === 'manifest.json' ? Buffer.from(JSON.stringify({ ...(JSON.parse(bytes.toString()) as object), id })) : bytes;
            await repo.store.put(`${t.source}/${id}/${key}`, Readable.from([body]), { size: body.length });
          }
        }
      } finally {
        await repo.close();
      }
    };
    const pruneMs = once(async () => {
      await addPrunable('s3', 3);
      return (await timed(['prune', '--from', url('s3', 'prune'), '--keep-last', '1'])).ms;
    });

    // Key rewrap: two encrypted backups per provider's repository (made on first use), and the key they open with now.
    const keyOf = new Map<Provider, 'a' | 'b'>();
    const keys = once(async () => {
      for (const k of ['a', 'b']) await timed(['key', 'generate', '--key-file', join(dir, `key-${k}`)]);
    });
    const keyed = async (p: Provider) => {
      await keys();
      await need(p);
      if (!keyOf.has(p)) {
        for (let k = 0; k < 2; k++) await timed(['backup', '--file', small, '--out', url(p, 'keys'), '--encrypt', '--key-file', join(dir, 'key-a')]);
        keyOf.set(p, 'a');
      }
      return keyOf.get(p)!;
    };
    const rewrapArgs = (p: Provider, from: 'a' | 'b', to: 'a' | 'b') => ['key', 'rewrap', '--from', url(p, 'keys'), '--key-file', join(dir, `key-${from}`), '--new-key-file', join(dir, `key-${to}`)];
    const rewrapMs = once(async () => {
      await keyed('s3');
      const ms = (await timed(rewrapArgs('s3', 'a', 'b'))).ms;
      keyOf.set('s3', 'b');
      return ms;
    });

    const fanTrial = async (i: number, seed: number): Promise<Trial> => {
      const random = rng(seed);
      const pair = PAIRS[Math.floor(i / CLOUD_KILL_OPERATIONS.length) % PAIRS.length]!;
      const ms = await fanMs();
      await need(...pair);
      const at = Math.round(ms * (0.05 + random() * 0.8));
      const problems: string[] = [];
      // Azure's uncommitted blocks and GCS's sessions stay until the service expires them: count this run's only.
      const earlier = new Set<string>();
      for (const p of pair) for (const k of await leftovers(p, 'fan')) earlier.add(`${p}:${k}`);
      setPhase(`backup to ${pair.join(' + ')} killed after ${at} ms`);
      const ended = await runAndKill(fanArgs(pair), env, dir, at);
      const left: string[] = [];
      for (const p of pair) {
        problems.push(...(await checks(url(p, 'fan'))).problems.map((x) => `${p}: ${x}`));
        left.push(...(await leftovers(p, 'fan')).map((k) => `${p}:${k}`).filter((k) => !earlier.has(k)));
      }
      setPhase('the next backup');
      const next = await cli(...fanArgs(pair), '--json');
      if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      const nextIds = next.code === 0 ? [idOf(next.stdout).id] : [];
      // The next prune past the orphan grace (0 s here) removes the killed run's objects and its unfinished S3 upload.
      for (const p of pair) {
        setPhase(`prune ${p} --orphan-grace 0s`);
        const sweep = await cli('prune', '--from', url(p, 'fan'), '--keep-last', '1000', '--orphan-grace', '0s');
        if (sweep.code !== 0) problems.push(`${p}: prune --orphan-grace 0s failed (${sweep.code}): ${sweep.stderr.slice(0, 300)}`);
        // Every listed backup verifies, the next backup's among them.
        const { ids, problems: listed } = await checkRepository(url(p, 'fan'), { opener, expectIds: nextIds });
        problems.push(...listed.map((x) => `${p}: ${x}`));
        const stray = await unlisted(url(p, 'fan'), ids);
        if (stray.length) problems.push(`${p}: after prune --orphan-grace 0s objects of no listed backup are left: ${stray.slice(0, 5).join(', ')}`);
        if (p === 's3') {
          const pending = await leftovers(p, 'fan');
          if (pending.length) problems.push(`s3: after prune --orphan-grace 0s unfinished multipart uploads are left (billed until aborted): ${pending.join(', ')}`);
        }
      }
      return {
        // Which stores held something outside the objects right after the kill (a figure).
        variant: `backup ${pair.join('+')}${ended.killed ? '' : ' (finished first)'}${left.length ? `, left: ${[...new Set(left.map((x) => x.split(':')[0]))].join('+')}` : ''}`,
        what: `backup to ${pair.join(' + ')}, SIGKILL after ${at} ms (an untouched run takes ${ms} ms); left outside the objects: ${left.length ? left.join(', ') : 'nothing'}`,
        problems,
      };
    };

    const pruneTrial = async (i: number, seed: number): Promise<Trial> => {
      const random = rng(seed);
      const p = PROVIDERS[Math.floor(i / CLOUD_KILL_OPERATIONS.length) % PROVIDERS.length]!;
      const repository = url(p, 'prune');
      const ms = await pruneMs();
      await addPrunable(p, 3);
      const at = Math.round(ms * (0.05 + random() * 0.8));
      const problems: string[] = [];
      setPhase(`prune ${p} killed after ${at} ms`);
      const ended = await runAndKill(['prune', '--from', repository, '--keep-last', '1'], env, dir, at);
      problems.push(...(await checks(repository)).problems);
      setPhase('the next prune');
      const next = await cli('prune', '--from', repository, '--keep-last', '1', '--orphan-grace', '0s');
      if (next.code !== 0) problems.push(`the next prune failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      const after = await checkRepository(repository, { opener });
      problems.push(...after.problems);
      if (after.ids.length !== 1) problems.push(`after the next prune ${after.ids.length} backups are left, not 1`);
      const stray = await unlisted(repository, after.ids);
      if (stray.length) problems.push(`after the next prune objects of no listed backup are left: ${stray.slice(0, 5).join(', ')}`);
      return { variant: `prune ${p}${ended.killed ? '' : ' (finished first)'}`, what: `prune on ${p}, SIGKILL after ${at} ms (an untouched run takes ${ms} ms)`, problems };
    };

    const rewrapTrial = async (i: number, seed: number): Promise<Trial> => {
      const random = rng(seed);
      const p = PROVIDERS[Math.floor(i / CLOUD_KILL_OPERATIONS.length) % PROVIDERS.length]!;
      const repository = url(p, 'keys');
      const ms = await rewrapMs();
      const from = await keyed(p);
      const to = from === 'a' ? 'b' : 'a';
      const at = Math.round(ms * (0.05 + random() * 0.8));
      const problems: string[] = [];
      setPhase(`key rewrap ${p} killed after ${at} ms`);
      const ended = await runAndKill(rewrapArgs(p, from, to), env, dir, at);
      problems.push(...(await checks(repository, true)).problems);
      // Each backup opens with one of the two keys whatever the moment (its manifest is whole, old or new).
      setPhase('the next rewrap');
      const next = await cli(...rewrapArgs(p, from, to), '--json');
      if (next.code !== 0) problems.push(`the next rewrap failed (${next.code}): ${next.stderr.slice(0, 300)}`);
      else keyOf.set(p, to);
      const { ids } = await checkRepository(repository, { opener, storedOnly: true });
      for (const id of ids) {
        setPhase(`verify ${id} with the new key`);
        const v = await cli('verify', '--from', repository, id, '--key-file', join(dir, `key-${to}`));
        if (v.code !== 0) problems.push(`after the next rewrap ${id} does not verify with the new key (${v.code}): ${v.stderr.slice(0, 300)}`);
      }
      return { variant: `rewrap ${p}${ended.killed ? '' : ' (finished first)'}`, what: `key rewrap ${from}→${to} on ${p}, SIGKILL after ${at} ms (an untouched run takes ${ms} ms)`, problems };
    };

    return {
      stop,
      trial(i: number, seed: number, operation: CloudKillOperation): Promise<Trial> {
        return operation === 'backup fan-out' ? fanTrial(i, seed) : operation === 'prune' ? pruneTrial(i, seed) : rewrapTrial(i, seed);
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
