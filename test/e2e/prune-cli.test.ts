import { cp, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

/**
 * The built CLI against a local folder repository holding a crafted history. Real backups all get
 * "now" as their time, so one real SQLite backup is the template: its folder is copied under ids
 * with chosen times (manifest id/kind/parent/times rewritten; parts and checksums untouched, so
 * the copies verify and restore like the original).
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
// Each CLI run costs ~1 s idle and up to ~8 s on a loaded 2-core machine; the tests make ~12 runs.

const stamp = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const idOf = (day: string, kind = 'full') => `${stamp(`${day}T02:00:00Z`)}-${kind}-${kind === 'full' ? 'ffff' : 'iiii'}`;

function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86400e3) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

// 2025-01-01 … 2025-03-28: one full a day; then a chain: full F (03-29) ← I1 (03-30) ← I2 (03-31).
const F = idOf('2025-03-29');
const I1 = idOf('2025-03-30', 'incremental');
const I2 = idOf('2025-03-31', 'incremental');
const PINNED = idOf('2025-01-15');

async function craftRepository(repo: string, template: string): Promise<void> {
  const plan: { id: string; kind: string; parent: string | null; iso: string }[] = days('2025-01-01', '2025-03-28').map((d) => ({
    id: idOf(d),
    kind: 'full',
    parent: null,
    iso: `${d}T02:00:00Z`,
  }));
  plan.push({ id: F, kind: 'full', parent: null, iso: '2025-03-29T02:00:00Z' });
  plan.push({ id: I1, kind: 'incremental', parent: F, iso: '2025-03-30T02:00:00Z' });
  plan.push({ id: I2, kind: 'incremental', parent: I1, iso: '2025-03-31T02:00:00Z' });
  const manifest = JSON.parse(await readFile(join(repo, 'app', template, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  for (const b of plan) {
    const folder = join(repo, 'app', b.id);
    await cp(join(repo, 'app', template), folder, { recursive: true });
    const m = { ...manifest, id: b.id, kind: b.kind, parent: b.parent, baseFull: b.parent ? F : null, startedAt: b.iso, finishedAt: b.iso, consistentAt: b.iso };
    await writeFile(join(folder, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
  }
}

/** An interrupted backup: parts, no manifest, last written `ageHours` ago. */
async function orphan(repo: string, id: string, ageHours: number): Promise<void> {
  const folder = join(repo, 'app', id, 'data');
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'main.0.sqlite.zst'), Buffer.alloc(1000, 7));
  const t = new Date(Date.now() - ageHours * 3600e3);
  await utimes(join(folder, 'main.0.sqlite.zst'), t, t);
}

/** The backups in a repository folder, read from disk: the folders that hold a manifest.json. */
async function idsOnDisk(repo: string): Promise<string[]> {
  const ids: string[] = [];
  for (const id of await readdir(join(repo, 'app'))) if (await stat(join(repo, 'app', id, 'manifest.json')).catch(() => undefined)) ids.push(id);
  return ids.sort();
}

/** A copy of the template repository with the crafted history and without the template backup. */
async function makeRepo(name: string): Promise<string> {
  const repo = join(dir.path, name);
  await cp(join(dir.path, 'template'), repo, { recursive: true });
  await craftRepository(repo, templateId);
  await rm(join(repo, 'app', templateId), { recursive: true });
  return repo;
}

let templateId: string;

beforeAll(async () => {
  dir = await tempDir('dbb-prune-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off' };
  const db = new Database(join(dir.path, 'app.db'));
  db.exec("CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two');");
  db.close();
  const b = await cli('backup', '--db', 'sqlite', '--file', 'app.db', '--out', 'template', '--source', 'app', '--json');
  expect(b.code, b.stderr).toBe(0);
  templateId = (JSON.parse(b.stdout) as { id: string }).id;
});

afterAll(async () => {
  await dir?.cleanup();
});

describe('dbbackup prune (built CLI, local folder repository)', () => {
  it('plans with --dry-run, then keeps exactly the policy set, the chain and the pin, and removes old orphans', async () => {
    const repo = await makeRepo('backups');
    expect(await idsOnDisk(repo)).toHaveLength(90);
    const pin = await cli('pin', PINNED, '--from', repo, '--note', 'audit');
    expect(pin.code, pin.stderr).toBe(0);
    expect(pin.stdout).toContain('pinned');
    await orphan(repo, '20250201T030000Z-full-dead', 48);
    await orphan(repo, '20250201T040000Z-full-busy', 1);

    const policy = ['--keep-last', '1', '--keep-weekly', '2', '--keep-monthly', '3'];
    const dry = await cli('prune', '--from', repo, '--source', 'app', ...policy, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${I1}\\s+incremental\\s+2025-03-30T02:00:00Z\\s+kept: weekly 2025-W13, base of ${I2}\n`));
    expect(dry.stdout).toMatch(new RegExp(`${F}\\s+full\\s+2025-03-29T02:00:00Z\\s+kept: base of ${I1}\n`));
    expect(dry.stdout).toMatch(new RegExp(`${PINNED}\\s+full\\s+2025-01-15T02:00:00Z\\s+kept: pinned\n`));
    expect(dry.stdout).toMatch(new RegExp(`${idOf('2025-01-16')}\\s+full\\s+2025-01-16T02:00:00Z\\s+would delete\n`));
    expect(dry.stdout).toMatch(/Dry run: would delete 84 backup\(s\) and 1 orphan folder\(s\) \(.+\) and keep 6; nothing was deleted\./);
    expect(await idsOnDisk(repo)).toHaveLength(90);

    const run = await cli('prune', '--from', repo, '--source', 'app', ...policy, '--json');
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { ok: boolean; results: { deleted: string[]; kept: number; bytesFreed: number; orphans: { prefix: string }[] }[] };
    expect(out.ok).toBe(true);
    expect(out.results[0]).toMatchObject({ kept: 6, orphans: [{ prefix: 'app/20250201T030000Z-full-dead/' }] });
    expect(out.results[0]!.deleted).toHaveLength(84);
    expect(out.results[0]!.bytesFreed).toBeGreaterThan(84 * 100);

    const expected = [PINNED, idOf('2025-01-31'), idOf('2025-02-28'), F, I1, I2].sort();
    expect(await idsOnDisk(repo)).toEqual(expected);
    // Nothing of the deleted backups is left but (on a local disk) empty folders, and the busy orphan is untouched.
    for (const id of out.results[0]!.deleted) expect(await filesUnder(join(repo, 'app', id))).toEqual([]);
    expect(await filesUnder(join(repo, 'app', '20250201T030000Z-full-dead'))).toEqual([]);
    expect(await filesUnder(join(repo, 'app', '20250201T040000Z-full-busy'))).toHaveLength(1);
    // The catalog was updated, and the kept chain is still whole.
    const catalog = await cli('list', '--json');
    const rows = (JSON.parse(catalog.stdout) as { backups: { id: string; repository: string }[] }).backups;
    expect(rows.filter((b) => b.repository === repo).map((b) => b.id).sort()).toEqual(expected);
    const verify = await cli('verify', '--from', repo, I2);
    expect(verify.code, verify.stderr).toBe(0);

    // A second run with the same policy has nothing left to do.
    const again = await cli('prune', '--from', repo, '--source', 'app', ...policy);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Deleted 0 backup(s), freed 0 B; kept 6.');
  }, 300_000);

  it('takes the repositories and the policy from the config; unpin makes a backup prunable', async () => {
    const repo = await makeRepo('configured');
    const config = join(dir.path, 'configured.yaml'); // not in the cwd: other tests run without a config
    await writeFile(
      config,
      [
        'sources:',
        `  app: { engine: sqlite, database: ${join(dir.path, 'app.db')} }`,
        'targets:',
        `  disk: { url: ${repo} }`,
        'backups:',
        '  app: { targets: [disk], retention: { keep-last: 1 } }',
      ].join('\n'),
    );
    expect((await cli('pin', PINNED, '--from', repo)).code).toBe(0);
    const r = await cli('prune', '--config', config, '--source', 'app');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('keep-last 1 (periods in UTC)');
    expect(await idsOnDisk(repo)).toEqual([PINNED, F, I1, I2].sort());

    expect((await cli('unpin', PINNED, '--from', repo)).code).toBe(0);
    const flags = await cli('prune', '--config', config, '--source', 'app', '--keep-last', '1', '--json');
    expect(flags.code, flags.stderr).toBe(0);
    expect(await idsOnDisk(repo)).toEqual([F, I1, I2].sort());
  }, 300_000);

  it('refuses to prune without a policy, and says how to give one', async () => {
    const r = await cli('prune', '--from', join(dir.path, 'configured'), '--source', 'app');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error E_USAGE: No retention policy: give --keep-last/);
  });
});

async function filesUnder(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}
