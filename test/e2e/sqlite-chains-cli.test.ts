import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { Database } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

/**
 * Incremental and differential backups and point-in-time restores through the built CLI
 * (`npm run build` first), compared with the sqlite3 shell's `.dump` of the source at each point.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });
const dump = (file: string) => execFileSync('sqlite3', [join(dir.path, file), '.dump'], { encoding: 'utf8', maxBuffer: 1 << 28 });

function change(sql: string): void {
  const db = new Database(join(dir.path, 'app.db'));
  db.exec(sql);
  db.close();
}

interface Taken {
  id: string;
  kind: string;
  parent: string | null;
  dump: string;
}
const taken: Taken[] = [];

async function backup(...args: string[]): Promise<Taken> {
  const r = await cli('backup', '--file', 'app.db', '--out', 'repo', '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { id: string; kind: string; parent: string | null };
  const t = { id: out.id, kind: out.kind, parent: out.parent, dump: dump('app.db') };
  taken.push(t);
  return t;
}

beforeAll(async () => {
  dir = await tempDir('dbb-chains-cli-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), DBBACKUP_LOG_FILE: 'off' };
  change(`PRAGMA journal_mode = WAL;
    CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, score REAL);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
    INSERT INTO users SELECT x, 'user ' || x, x * 0.5 FROM c;`);
});

afterAll(async () => {
  await dir?.cleanup();
});

describe('incremental and differential backups (built CLI)', () => {
  it('an incremental needs a parent (exit 1, E_NO_PARENT); --auto-full takes a full and says so', async () => {
    const none = await cli('backup', '--file', 'app.db', '--out', 'repo', '--type', 'incremental');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('E_NO_PARENT');
    expect(none.stderr).toContain('--auto-full');
    const r = await cli('backup', '--file', 'app.db', '--out', 'repo', '--type', 'incremental', '--auto-full');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/took a full backup instead of the incremental asked for \(--auto-full\)/);
    const list = JSON.parse((await cli('list', '--from', 'repo', '--json')).stdout) as { backups: { id: string; kind: string }[] };
    expect(list.backups.map((b) => b.kind)).toEqual(['full']);
    taken.push({ id: list.backups[0]!.id, kind: 'full', parent: null, dump: dump('app.db') });
  });

  it('takes incrementals and differentials that restore exactly, by id and with --at', async () => {
    change("UPDATE users SET score = score + 1 WHERE id % 100 = 0; INSERT INTO users (name) VALUES ('new one');");
    const i1 = await backup('--type', 'incremental');
    expect(i1).toMatchObject({ kind: 'incremental', parent: taken[0]!.id });
    change('CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES (\'hello\'); DELETE FROM users WHERE id < 50;');
    const d1 = await backup('--type', 'differential');
    expect(d1).toMatchObject({ kind: 'differential', parent: taken[0]!.id });
    change("UPDATE notes SET body = 'changed';");
    const i2 = await backup('--type', 'incremental');
    expect(i2.parent).toBe(d1.id);

    for (const t of taken) {
      const r = await cli('restore', '--from', 'repo', '--backup', t.id, '--database', `by-id-${t.id}.db`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('the database is as of');
      expect(dump(`by-id-${t.id}.db`)).toBe(t.dump);
    }

    const plan = await cli('restore', '--from', 'repo', '--at', 'latest', '--database', 'latest.db', '--dry-run', '--json');
    expect(plan.code, plan.stderr).toBe(0);
    const { chain } = JSON.parse(plan.stdout) as { chain: { links: { id: string; kind: string; storedBytes: number }[]; point: string } };
    expect(chain.links.map((l) => l.id)).toEqual([taken[0]!.id, d1.id, i2.id]);
    expect(chain.links.map((l) => l.kind)).toEqual(['full', 'differential', 'incremental']);
    expect(chain.links.every((l) => l.storedBytes > 0)).toBe(true);
    const human = await cli('restore', '--from', 'repo', '--at', 'latest', '--database', 'latest.db', '--dry-run');
    for (const id of [taken[0]!.id, d1.id, i2.id]) expect(human.stdout).toContain(id);
    expect(human.stdout).toContain(`reaches ${chain.point}`);

    const list = JSON.parse((await cli('list', '--from', 'repo', '--windows', '--json')).stdout) as {
      windows: { source: string; windows: { from: string; to: string }[] }[];
    };
    const points = list.windows[0]!.windows.map((w) => w.to);
    expect(points).toHaveLength(4);
    // Halfway between the differential and the incremental after it: the differential's state.
    const between = new Date((Date.parse(points[2]!) + Date.parse(points[3]!)) / 2).toISOString();
    const at = await cli('restore', '--from', 'repo', '--at', between, '--database', 'at.db');
    expect(at.code, at.stderr).toBe(0);
    expect(at.stdout).toContain(`the database is as of ${points[2]}`);
    expect(dump('at.db')).toBe(d1.dump);

    const early = await cli('restore', '--from', 'repo', '--at', '2020-01-01T00:00:00Z', '--database', 'early.db');
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('E_NO_RESTORE_POINT');
    expect(early.stderr).toContain(points[0]);
  });

  it('verify checks every link; a missing middle link exits 4 naming it', async () => {
    const [, , d1, i2] = taken;
    const ok = await cli('verify', '--from', 'repo', i2!.id);
    expect(ok.code, ok.stderr).toBe(0);
    const folder = join(dir.path, 'repo', 'app', d1!.id);
    await rename(folder, `${folder}.away`);
    try {
      const r = await cli('restore', '--from', 'repo', '--backup', i2!.id, '--database', 'broken.db');
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(d1!.id);
    } finally {
      await rename(`${folder}.away`, folder);
    }
  });

  it('prune --keep-pitr keeps the chain the period needs and deletes the rest', async () => {
    // The last backup is more than a second old: the period's restores all need full ← differential ← incremental.
    const [full, i1, d1, i2] = taken;
    const r = await cli('prune', '--from', 'repo', '--source', 'app', '--keep-pitr', '1s', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { deleted: string[] }[] };
    expect(out.results.flatMap((x) => x.deleted)).toEqual([i1!.id]);
    const list = JSON.parse((await cli('list', '--from', 'repo', '--json')).stdout) as { backups: { id: string }[] };
    expect(list.backups.map((b) => b.id)).toEqual([full!.id, d1!.id, i2!.id]);
    const r2 = await cli('restore', '--from', 'repo', '--database', 'after-prune.db');
    expect(r2.code, r2.stderr).toBe(0);
    expect(dump('after-prune.db')).toBe(i2!.dump);
  });

  it('a chain encrypted to age recipients only: links read their parent from the local copy of its page map', async () => {
    expect((await cli('key', 'generate', '--age', 'identity.txt')).code).toBe(0);
    const recipient = /age1[0-9a-z]+/.exec(readFileSync(join(dir.path, 'identity.txt'), 'utf8'))![0];
    const take = async (type: string) => {
      const r = await cli('backup', '--file', 'app.db', '--out', 'age-repo', '--type', type, '--encrypt', '--recipient', recipient, '--json');
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { id: string }).id;
    };
    const full = await take('full');
    change("UPDATE users SET name = 'age ' || id WHERE id % 11 = 0");
    await take('incremental');
    change('DELETE FROM users WHERE id % 13 = 0');
    await take('incremental');
    change("INSERT INTO users (name, score) VALUES ('after', 1)");
    const diff = await take('differential');
    const want = dump('app.db');
    const r = await cli('restore', '--from', 'age-repo', '--backup', diff, '--database', 'age.db', '--identity', 'identity.txt');
    expect(r.code, r.stderr).toBe(0);
    expect(dump('age.db')).toBe(want);
    // Only what the next link reads is kept: the last backup and its full.
    const cache = join(dir.path, 'data', 'part-cache', 'app');
    expect(readdirSync(cache).sort()).toEqual([full, diff].sort());
    expect(statSync(cache).mode & 0o777).toBe(0o700);

    // Another host (no local copy): a clear E_NO_PARENT that says why.
    rmSync(join(dir.path, 'data', 'part-cache'), { recursive: true });
    const lost = await cli('backup', '--file', 'app.db', '--out', 'age-repo', '--type', 'incremental', '--encrypt', '--recipient', recipient);
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(/E_NO_PARENT.*encrypted to age recipients only.*keeps no copy of its page map/);
  });

  it('a filtered full cannot be a parent (exit 1, E_NO_PARENT says why and what to do); a filtered link is refused (exit 2)', async () => {
    const filtered = await cli('backup', '--file', 'app.db', '--out', 'filtered-repo', '--tables', 'users');
    expect(filtered.code, filtered.stderr).toBe(0);
    for (const type of ['incremental', 'differential']) {
      const r = await cli('backup', '--file', 'app.db', '--out', 'filtered-repo', '--type', type);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/E_NO_PARENT.*filtered with --tables.*unfiltered full.*--source/);
    }
    const link = await cli('backup', '--file', 'app.db', '--out', 'repo', '--type', 'incremental', '--tables', 'users');
    expect(link.code).toBe(2);
    expect(link.stderr).toMatch(/E_USAGE.*apply to full backups only.*restore --tables/);
  });

  // Every built-in engine captures changes now (MongoDB from the oplog); the refusal of an engine
  // without change capture (E_UNSUPPORTED, exit 2) is covered in test/unit/application/backup-kinds.test.ts.
  it('an incremental of another engine with no full in the repository refuses before connecting (E_NO_PARENT, exit 1)', async () => {
    const r = await cli('backup', '--db', 'mongodb', '--url', 'mongodb://127.0.0.1:1/db', '--out', 'my-repo', '--type', 'incremental');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_NO_PARENT');
  });
});
