// Full disk: a small tmpfs, mounted in a private mount namespace (`unshare -rm`: a user namespace,
// so no root is needed where unprivileged user namespaces are allowed, as on Debian), holds the
// repository, a .tar.gz/.zip, the temp folder or a SQLite restore target. The kernel answers ENOSPC
// at a point that depends on the seed's tmpfs size. What must hold: exit 1 with one
// `error E_NO_SPACE: No space to write <path>` line naming a path on the full file system, no stack
// trace; nothing the run wrote is left there (only the repository's dbbackup-repo.json, and a
// restore target it was to replace, unchanged); no backup listed (repository and catalog); and once
// the file system has room again (remounted larger) the same command succeeds.
//
// Why a tmpfs and not RLIMIT_FSIZE (`ulimit -f`): that limit is per file and answers EFBIG, so it
// cannot fill a repository made of many parts, and it would cap the catalog and logs as well; a
// fault-injecting store would not exercise the real file system calls (write, fsync, rename,
// SQLite's own I/O). The EFBIG and EDQUOT answers go through the same mapping (isNoSpace).
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from '../helpers/cli.js';
import { DEFAULT_LIMIT_MS, runCli, spawnWatched } from './cli-watch.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { checkRepository } from './checks.js';
import { rng } from './harness.js';

export const FULL_DISK_PLACES = ['repository', 'tar.gz', 'zip', 'temp folder', 'restore target'] as const;
export type FullDiskPlace = (typeof FULL_DISK_PLACES)[number];

const RUNNER = fileURLToPath(new URL('./full-disk-run.mjs', import.meta.url));

interface StepResult {
  code: number | null;
  stdout: string;
  stderr: string;
  files: { path: string; size: number }[];
}

/** Runs the steps in the namespace; the runner (and the CLI runs in it, its process group) gets the trial's limit per step. */
async function inNamespace(spec: { steps: unknown[] } & Record<string, unknown>): Promise<StepResult[]> {
  const { done } = spawnWatched('unshare', ['-rm', process.execPath, RUNNER, JSON.stringify(spec)], {
    limitMs: DEFAULT_LIMIT_MS * Math.max(1, spec.steps.length),
    shown: `unshare -rm full-disk-run.mjs (${spec.steps.length} CLI steps)`,
  });
  const r = await done;
  if (r.code !== 0) throw new Error(`unshare -rm (a tmpfs in a private mount namespace) failed (${r.signal ?? r.code}): ${r.stderr.slice(0, 400)}`);
  return JSON.parse(r.stdout) as StepResult[];
}

export async function fullDiskBench(dir: string, rows = 1_200) {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const dataDir = join(dir, 'data');
  const env = { DBBACKUP_DATA_DIR: dataDir, XDG_STATE_HOME: join(dir, 'state'), TMPDIR: join(dir, 'tmp') };
  const db = join(dir, 'app.db');
  const d = new Database(db);
  // Random bytes: compression cannot make the backup small enough to fit.
  d.exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rows}) INSERT INTO blobs SELECT x, randomblob(1500) FROM c;`);
  d.close();
  const small = join(dir, 'small.db');
  const s = new Database(small);
  s.exec("CREATE TABLE previous (x TEXT); INSERT INTO previous VALUES ('before the restore');");
  s.close();
  const smallHash = createHash('sha256').update(await readFile(small)).digest('hex');
  const first = await runCli(['backup', '--file', db, '--out', 'repo', '--json'], { env, cwd: dir });
  if (first.code !== 0) throw new Error(`the template backup failed: ${first.stderr}`);
  const templateId = (JSON.parse(first.stdout) as { id: string }).id;

  return {
    async trial(i: number, seed: number, place: FullDiskPlace) {
      const random = rng(seed);
      // Anywhere from a few pages to most of what the run writes (~1.8 MB).
      const size = `${16 + Math.floor(random() * 400) * 4}k`;
      const mnt = join(dir, `mnt-${i}`);
      const over = place === 'restore target' && random() < 0.5;
      const problems: string[] = [];
      let command: string[];
      let stepEnv: Record<string, string> = env;
      let allowed: (f: { path: string; size: number }) => boolean = () => false;
      const tempRepo = join(dir, `temp-repo-${i}`);
      if (place === 'repository') {
        command = ['backup', '--file', db, '--out', join(mnt, 'repo')];
        allowed = (f) => f.path === 'repo/dbbackup-repo.json';
      } else if (place === 'tar.gz' || place === 'zip') {
        command = ['backup', '--file', db, '--out', join(mnt, `b.${place}`)];
      } else if (place === 'temp folder') {
        command = ['backup', '--file', db, '--out', tempRepo];
        // A database this small is snapshotted in memory (≤ 16 MiB): the path of larger ones, which copy it to the temp folder.
        stepEnv = { ...env, TMPDIR: join(mnt, 't'), DBBACKUP_SQLITE_IN_MEMORY_MAX: '0' };
      } else {
        command = ['restore', '--from', 'repo', '--backup', templateId, '--database', join(mnt, 'r.db'), ...(over ? ['--clean'] : [])];
        allowed = (f) => over && f.path === 'r.db';
      }
      const steps = await inNamespace({
        bin: BIN,
        mnt,
        size,
        cwd: dir,
        dirs: ['t'],
        copies: over ? [[small, 'r.db']] : [],
        hash: true,
        steps: [
          { args: command, env: stepEnv },
          ...(place === 'repository' ? [{ args: ['list', '--from', join(mnt, 'repo'), '--json'], env }] : []),
          { args: ['list', '--json'], env },
          { args: command, env: stepEnv, grow: '64m' },
        ],
      });
      const [failed, ...rest] = steps;
      const retried = rest.at(-1)!;
      const what = `${place}${over ? ' (over an existing database, --clean)' : ''} on a ${size} tmpfs`;
      if (failed!.code === 0) {
        // The seed's size happened to be enough (it never is at these sizes): say so, as a failure to fill.
        problems.push(`the run fitted in ${size}: the full disk was not reached`);
      } else {
        const errors = failed!.stderr.split('\n').filter((l) => l.startsWith('error '));
        if (failed!.code !== 1) problems.push(`exit ${failed!.code}, not 1: ${failed!.stderr.slice(0, 300)}`);
        if (errors.length !== 1 || !errors[0]!.startsWith(`error E_NO_SPACE: No space to write `) || !errors[0]!.includes(mnt)) {
          problems.push(`not one "error E_NO_SPACE: No space to write <a path under ${mnt}>" line: ${failed!.stderr.slice(0, 400)}`);
        }
        if (/\n\s+at .+:\d+:\d+\)?$/m.test(failed!.stderr)) problems.push(`a stack trace: ${failed!.stderr.slice(0, 400)}`);
        const left = failed!.files.filter((f) => !allowed(f));
        if (left.length) problems.push(`the failed run left ${left.map((f) => `${f.path} (${f.size} B)`).join(', ')} on the full file system`);
        if (over) {
          const target = failed!.files.find((f) => f.path === 'r.db') as { path: string; size: number; sha256?: string } | undefined;
          if (!target) problems.push('the failed restore removed the database it was to replace');
          else if (target.sha256 !== smallHash) problems.push('the failed restore changed the database it was to replace');
        }
        if (place === 'repository') {
          const listed = JSON.parse(rest[0]!.stdout || '{"backups":[]}') as { backups: unknown[] };
          if (rest[0]!.code !== 0 || listed.backups.length !== 0) problems.push(`list --from the full repository: exit ${rest[0]!.code}, ${listed.backups.length} backup(s)`);
        }
        const catalog = JSON.parse(rest.at(-2)!.stdout || '{"backups":[]}') as { backups: { repository?: string }[] };
        const inCatalog = catalog.backups.filter((b) => b.repository?.startsWith(mnt) || b.repository === tempRepo);
        if (inCatalog.length) problems.push(`the catalog lists ${inCatalog.length} backup(s) of the failed run`);
      }
      if (retried.code !== 0) problems.push(`with room again the same command failed (${retried.code}): ${retried.stderr.slice(0, 300)}`);
      if (place === 'temp folder') {
        // The repository (on a disk with room) holds the retry's backup only, and it verifies.
        const after = await checkRepository(tempRepo);
        problems.push(...after.problems);
        if (after.ids.length !== (retried.code === 0 ? 1 : 0)) problems.push(`${tempRepo} lists ${after.ids.length} backups after one failed run and its retry`);
      }
      return { variant: place, what, problems };
    },
  };
}
