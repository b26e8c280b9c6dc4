// Kill -9 at a random moment of a SQLite backup (into a repository folder, a .tar.gz and a .zip),
// a restore and a prune; then what must hold: every listed backup verifies, nothing half-written is
// listed, the catalog opens, the next run of the same operation succeeds with no manual cleanup,
// and a killed restore's target is untouched or complete (never half-restored).
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { runCli } from './cli-watch.js';
import { contentHashes, Database } from '../helpers/sqlite-fixtures.js';
import { checkCatalog, checkRepository, runAndKill, strays } from './checks.js';
import { pick, rng } from './harness.js';

export const KILL_OPERATIONS = ['backup-repo', 'backup-tar.gz', 'backup-zip', 'restore', 'prune'] as const;
export type KillOperation = (typeof KILL_OPERATIONS)[number];

export interface KillBench {
  /** One trial: kills `operation` (chosen from the seed when not given) and checks what is left. */
  trial(i: number, seed: number, operation?: KillOperation): Promise<{ variant: string; what: string; problems: string[] }>;
  /** Temp files left by killed runs that no later run removed (a figure, not a failure). */
  leftovers(): Promise<string[]>;
}

/** Builds the source database, a template backup, and the time each operation takes when not killed. */
export async function killBench(dir: string, rows = 8_000): Promise<KillBench> {
  const tmp = join(dir, 'tmp');
  await mkdir(tmp, { recursive: true });
  const dataDir = join(dir, 'data');
  const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(dir, 'state'), TMPDIR: tmp };
  const cli = (...args: string[]) => runCli(args, { env, cwd: dir });
  const db = join(dir, 'app.db');
  const d = new Database(db);
  d.exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB, note TEXT);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rows})
    INSERT INTO blobs SELECT x, randomblob(1500), printf('row %d', x) FROM c;`);
  d.close();
  const expected = contentHashes(db);

  const timed = async (args: string[]) => {
    const started = Date.now();
    const r = await cli(...args);
    if (r.code !== 0) throw new Error(`${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return { ms: Date.now() - started, stdout: r.stdout };
  };
  // The untouched runs' durations bound the kill moments.
  const backupRun = await timed(['backup', '--file', db, '--out', 'repo', '--json']);
  const { id: templateId, source } = JSON.parse(backupRun.stdout) as { id: string; source: string };
  const restoreRun = await timed(['restore', '--from', 'repo', '--backup', templateId, '--database', 'baseline.db']);
  await timed(['backup', '--file', db, '--out', 'prune-repo']);
  const pruneRun = await timed(['prune', '--from', 'prune-repo', '--keep-last', '1']);
  const ms: Record<KillOperation, number> = {
    'backup-repo': backupRun.ms,
    'backup-tar.gz': backupRun.ms,
    'backup-zip': backupRun.ms,
    restore: restoreRun.ms,
    prune: pruneRun.ms,
  };
  let clones = 0;

  /** Older copies of the prune repository's one backup, for a prune to delete. */
  const addPrunable = async (n: number) => {
    const folder = join(dir, 'prune-repo', source);
    const [newest] = (await readdir(folder)).sort().reverse();
    for (let k = 0; k < n; k++) {
      clones++;
      const stamp = new Date(Date.UTC(2026, 0, 1) + clones * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const id = `${stamp}-full-${(clones % 1296).toString(36).padStart(4, 'a')}`;
      await cp(join(folder, newest!), join(folder, id), { recursive: true });
      const manifest = JSON.parse(await readFile(join(folder, id, 'manifest.json'), 'utf8')) as { id: string };
      manifest.id = id;
      await writeFile(join(folder, id, 'manifest.json'), JSON.stringify(manifest));
    }
  };

  /** `*.dbbackup-tmp-*` files beside `path` (what a killed run leaves and the next run must remove). */
  const tempsBeside = async (path: string, dot = '') => {
    const prefix = `${dot}${basename(path)}.dbbackup-tmp-`;
    return (await readdir(dirname(path))).filter((n) => n.startsWith(prefix));
  };

  const sameAsSource = (file: string): string[] => {
    try {
      const got = contentHashes(file);
      return JSON.stringify(got) === JSON.stringify(expected) ? [] : [`${file} holds a database that differs from the source (half-restored?)`];
    } catch (err) {
      return [`${file} is not a readable database: ${(err as Error).message}`];
    }
  };

  return {
    async leftovers() {
      return [...(await strays(tmp)), ...(await strays(dir)).filter((p) => !p.startsWith(tmp))];
    },

    async trial(i, seed, chosen) {
      const random = rng(seed);
      const operation = chosen ?? pick(random, KILL_OPERATIONS);
      // Anywhere from start-up to just past the end of an untouched run.
      const at = Math.round(ms[operation] * (0.15 + random() * 0.95));
      const what = `${operation}, SIGKILL after ${at} ms (an untouched run takes ${ms[operation]} ms)`;
      const problems: string[] = [];
      let ended: { killed: boolean; code: number | null };
      if (operation === 'backup-repo') {
        ended = await runAndKill(['backup', '--file', db, '--out', 'repo'], env, dir, at);
        const after = await checkRepository(join(dir, 'repo'));
        problems.push(...after.problems, ...(await checkCatalog(dataDir, join(dir, 'repo'), after.ids)));
        const next = await cli('backup', '--file', db, '--out', 'repo', '--json');
        if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
        else problems.push(...(await checkRepository(join(dir, 'repo'), { expectIds: [(JSON.parse(next.stdout) as { id: string }).id] })).problems);
      } else if (operation === 'backup-tar.gz' || operation === 'backup-zip') {
        const ext = operation.slice('backup-'.length);
        const out = join(dir, `killed-${i}.${ext}`);
        ended = await runAndKill(['backup', '--file', db, '--out', out], env, dir, at);
        if (await stat(out).catch(() => undefined)) {
          // The archive is renamed into place when complete: if it is there, it must be whole.
          const { ids, problems: p } = await checkRepository(out);
          problems.push(...p);
          if (ids.length !== 1) problems.push(`${out} exists but lists ${ids.length} backups`);
        }
        // The next backup writes the same archive: it removes the temp file the killed one left beside it.
        await rm(out, { force: true });
        const next = await cli('backup', '--file', db, '--out', out);
        if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
        else problems.push(...(await checkRepository(out)).problems);
        problems.push(...(await tempsBeside(out)).map((f) => `the next backup left the killed run's ${f}`));
        await rm(out, { force: true });
      } else if (operation === 'restore') {
        // Half the trials restore over an existing database (--clean): it must stay as it was or be whole.
        const target = join(dir, `restored-${i}.db`);
        const over = random() < 0.5;
        if (over) {
          const t = new Database(target);
          t.exec("CREATE TABLE previous (x TEXT); INSERT INTO previous VALUES ('before the restore');");
          t.close();
        }
        ended = await runAndKill(['restore', '--from', 'repo', '--backup', templateId, '--database', target, ...(over ? ['--clean'] : [])], env, dir, at);
        if (await stat(target).catch(() => undefined)) {
          // Looked at through a copy (with its journal), opened as any SQLite program opens a file:
          // read-write, which rolls back a copy the kill stopped in the middle of. The next restore
          // must do that itself on the target (a read-only open fails on a hot journal).
          const copy = join(dir, `check-${i}.db`);
          await cp(target, copy);
          await cp(`${target}-journal`, `${copy}-journal`).catch(() => undefined);
          let previous = false;
          try {
            const t = new Database(copy);
            previous = (t.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'previous'").get() as { n: number }).n === 1;
            t.close();
          } catch {
            /* reported below */
          }
          if (!(over && previous)) problems.push(...sameAsSource(copy));
          for (const f of [copy, `${copy}-journal`]) await rm(f, { force: true });
        } else if (over) {
          problems.push(`the killed restore removed ${target}, which existed before`);
        }
        const next = await cli('restore', '--from', 'repo', '--backup', templateId, '--database', target, '--clean');
        if (next.code !== 0) problems.push(`the next restore failed (${next.code}): ${next.stderr.slice(0, 300)}`);
        else problems.push(...sameAsSource(target));
        problems.push(...(await tempsBeside(target, '.')).map((f) => `the next restore left the killed run's ${f}`));
        await rm(target, { force: true });
      } else {
        await addPrunable(3);
        ended = await runAndKill(['prune', '--from', 'prune-repo', '--keep-last', '1'], env, dir, at);
        const after = await checkRepository(join(dir, 'prune-repo'));
        problems.push(...after.problems, ...(await checkCatalog(dataDir, join(dir, 'prune-repo'), after.ids)));
        const next = await cli('prune', '--from', 'prune-repo', '--keep-last', '1');
        if (next.code !== 0) problems.push(`the next prune failed (${next.code}): ${next.stderr.slice(0, 300)}`);
        const left = await checkRepository(join(dir, 'prune-repo'));
        problems.push(...left.problems);
        if (left.ids.length !== 1) problems.push(`after the next prune ${left.ids.length} backups are left, not 1`);
        // The folders a killed prune left without a manifest are orphans, removed once past the grace
        // period (24 h by default, as for an interrupted backup): with no grace, the next prune removes them.
        const sweep = await cli('prune', '--from', 'prune-repo', '--keep-last', '1', '--orphan-grace', '0s');
        if (sweep.code !== 0) problems.push(`prune --orphan-grace 0s failed (${sweep.code}): ${sweep.stderr.slice(0, 300)}`);
        const folders = await readdir(join(dir, 'prune-repo', source));
        // A kill between a folder's last unlink and its rmdir leaves an empty directory: no object, so
        // nothing a store lists or bills (the local store's folders are an artefact of keys). Any file
        // left inside one (a part, a temp file) is a leftover.
        const orphans: string[] = [];
        for (const f of folders.filter((f) => !left.ids.includes(f))) {
          const files = (await readdir(join(dir, 'prune-repo', source, f), { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory());
          if (files.length > 0) orphans.push(`${f} (${files.map((e) => e.name).join(', ')})`);
        }
        if (orphans.length) problems.push(`prune --orphan-grace 0s left manifest-less folders: ${orphans.join(', ')}`);
      }
      return { variant: `${operation}${ended.killed ? '' : ' (finished first)'}`, what, problems };
    },
  };
}
