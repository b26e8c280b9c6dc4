// Concurrency and load: many backups of different sources into one repository at once, with a
// prune and a verify running among them (real CLI processes on one catalog and one folder). What
// must hold: every run succeeds, every new backup verifies, the catalog holds each exactly once,
// the prune deleted only what its policy says, and nothing half-written is left.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DrizzleBackupCatalog } from '../../src/adapters/catalog/drizzle-backup-catalog.js';
import { catalogFile } from '../../src/infrastructure/paths.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { checkRepository, cliShapeProblems, strays } from './checks.js';
import { runCli } from './cli-watch.js';
import { rng } from './harness.js';

export interface ConcurrencyBench {
  trial(i: number, seed: number): Promise<{ variant: string; what: string; problems: string[] }>;
}

/** `sources` SQLite databases (and one more, backed up once beforehand only: the one `verify` checks). */
export async function concurrencyBench(dir: string, sources = 20): Promise<ConcurrencyBench> {
  const files: string[] = [];
  for (let k = 0; k <= sources; k++) {
    const file = join(dir, `src${String(k).padStart(2, '0')}.db`);
    const d = new Database(file);
    d.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${200 + k * 37})
      INSERT INTO t SELECT x, printf('source ${k} row %d', x) FROM c;`);
    d.close();
    files.push(file);
  }
  return {
    async trial(i, seed) {
      const random = rng(seed);
      const work = join(dir, `trial-${i}`);
      const tmp = join(work, 'tmp');
      await mkdir(tmp, { recursive: true });
      const dataDir = join(work, 'data');
      const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(work, 'state'), TMPDIR: tmp };
      const cli = (...args: string[]) => runCli(args, { env, cwd: work });
      const problems: string[] = [];
      const backupOf = async (file: string) => {
        const r = await cli('backup', '--file', file, '--out', 'repo', '--json');
        problems.push(...cliShapeProblems(r, [0]).map((p) => `backup of ${file}: ${p}`));
        if (r.code !== 0) {
          problems.push(`backup of ${file} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
          return undefined;
        }
        return JSON.parse(r.stdout) as { id: string; source: string };
      };
      // Before: one backup of a few sources (what the prune may delete once a newer one exists) and
      // of the extra source (what the verify reads; no new backup of it, so keep-last 1 keeps it).
      const older = Math.max(1, Math.floor(random() * 6));
      const before = new Map<string, string>();
      for (const file of [...files.slice(0, older), files[sources]!]) {
        const b = await backupOf(file);
        if (b) before.set(b.source, b.id);
      }
      const checked = [...before.entries()].find(([source]) => source.includes(`src${sources}`))?.[1];
      const pruned = [...before.keys()][0] ?? 'src00';
      // At once: every source's backup, a prune and a verify, started in a seeded order.
      const runs: { label: string; run: () => Promise<unknown> }[] = files.slice(0, sources).map((file) => ({ label: file, run: () => backupOf(file) }));
      const pruneAt = Math.floor(random() * runs.length);
      runs.splice(pruneAt, 0, {
        label: 'prune',
        run: async () => {
          const r = await cli('prune', '--from', 'repo', '--source', pruned, '--keep-last', '1');
          if (r.code !== 0) problems.push(`prune exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
        },
      });
      runs.splice(Math.floor(random() * runs.length), 0, {
        label: 'verify',
        run: async () => {
          const r = await cli('verify', '--from', 'repo', checked ?? 'latest');
          if (r.code !== 0) problems.push(`verify exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
        },
      });
      const results = await Promise.all(runs.map((r) => r.run()));
      const made = results.filter((r): r is { id: string; source: string } => typeof r === 'object' && r !== null && 'id' in r);
      const fresh = made.filter((b) => !before.has(b.source) || before.get(b.source) !== b.id);
      if (fresh.length !== sources) problems.push(`${fresh.length} of ${sources} concurrent backups completed`);

      // Every new backup is in the repository and verifies; the older ones are gone only when a newer one exists.
      const repo = await checkRepository(join(work, 'repo'), { expectIds: fresh.map((b) => b.id) });
      problems.push(...repo.problems);
      for (const [source, id] of before) {
        const newer = fresh.some((b) => b.source === source);
        if (!newer && !repo.ids.includes(id)) problems.push(`prune deleted ${id}, the only backup of ${source}`);
      }
      // The catalog holds each backup of the repository exactly once, and none it does not hold.
      const catalog = new DrizzleBackupCatalog(catalogFile(dataDir));
      try {
        const listed = (await catalog.list()).map((b) => b.id);
        const counts = new Map<string, number>();
        for (const id of listed) counts.set(id, (counts.get(id) ?? 0) + 1);
        for (const b of fresh) if (counts.get(b.id) !== 1) problems.push(`the catalog lists ${b.id} ${counts.get(b.id) ?? 0} times`);
        for (const id of listed) if (!repo.ids.includes(id)) problems.push(`the catalog lists ${id}, which the repository does not hold (after the prune)`);
      } finally {
        catalog.close();
      }
      problems.push(...(await strays(tmp)).map((s) => `left in the temp folder: ${s}`));
      return { variant: `${sources} backups + prune + verify`, what: `${sources} concurrent backups (${older} sources with an older backup), prune at ${pruneAt}`, problems };
    },
  };
}
