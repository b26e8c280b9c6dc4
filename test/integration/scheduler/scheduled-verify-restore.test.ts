// The verify-restore task (`schedule add --task verify-restore`, `task: verify-restore` in the
// config): the daemon runs verify --deep on the source's newest backup, records the run in the
// catalog and notifies; a backup that does not hold what it recorded fails E_DIFFERENT, once (no
// retry), notified. The built CLI with a SQLite source (a temp file is its scratch).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { tempDir } from '../../helpers/temp.js';
import { executed, runs, sqliteSetup } from './daemon-harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe('a scheduled verify-restore', () => {
  it('restores the newest backup into a scratch file and checks it, recorded and notified; a backup holding other than it recorded fails E_DIFFERENT once', async () => {
    const hook = await startRecorder();
    cleanups.push(() => hook.close());
    const dir = await tempDir('dbb-sched-vr-');
    cleanups.push(() => dir.cleanup());
    const env = await sqliteSetup(dir.path, '  []', `notifications:\n  - { type: webhook, url: "${hook.url}/hook", on: [success, failure], retries: 0 }`);
    const dataDir = env.DBBACKUP_DATA_DIR!;
    const cli = (...args: string[]) => runCli(args, { env, cwd: dir.path });

    const backup = await cli('backup', '--source', 'app');
    expect(backup.code, backup.stderr).toBe(0);
    const [id] = readdirSync(join(dir.path, 'repo', 'app'));
    const added = await cli('schedule', 'add', '--cron', '* * * * * *', '--task', 'verify-restore', '--source', 'app', '--name', 'restore-test', '--timezone', 'UTC');
    expect(added.code, added.stderr).toBe(0);
    // `--once` runs what is due: wait for the slot after the one the schedule was added in.
    const runOnce = async (...flags: string[]) => {
      const before = executed(runs(dataDir)).length;
      for (let tries = 0; executed(runs(dataDir)).length === before; tries++) {
        if (tries === 30) throw new Error(`no run of restore-test after 30 schedule run --once:\n${JSON.stringify(runs(dataDir))}`);
        await cli('schedule', 'run', '--once', ...flags);
      }
      return executed(runs(dataDir)).at(-1)!;
    };
    const ok = await runOnce();
    expect(ok).toMatchObject({ schedule: 'restore-test', outcome: 'success', attempts: 1, backup_id: id, error_code: null });
    expect(ok.note).toMatch(/^restored into .+: 1 table\(s\), 20000 rows, as recorded \(1 with contents hashed\)$/);
    // The catalog's row, as `schedule history` and the dashboard show it: the task is named.
    expect((ok as unknown as { task: string }).task).toBe('verify-restore');
    // The backup's own notification, then the task's.
    const events = () => hook.requests.map((r) => JSON.parse(r.body) as { outcome: string; task: string; error?: { code: string; message: string } }).filter((e) => e.task !== 'backup');
    expect(events()).toEqual([expect.objectContaining({ outcome: 'success', task: 'verify-restore', source: 'app', backupId: id })]);
    // No scratch file is left behind.
    expect(readdirSync(dir.path).filter((n) => n.startsWith('dbbackup-verify-'))).toEqual([]);

    // The backup records 20000 rows; its manifest now says 19999 (the parts intact): the restore holds other than recorded.
    const manifest = join(dir.path, 'repo', 'app', id!, 'manifest.json');
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { objects: { name: string; rows?: number }[] };
    m.objects.find((o) => o.name === 't')!.rows = 19_999;
    writeFileSync(manifest, JSON.stringify(m));
    const failed = await runOnce('--retries', '2', '--retry-delay', '1s');
    expect(failed).toMatchObject({ schedule: 'restore-test', outcome: 'failure', attempts: 1, error_code: 'E_DIFFERENT' });
    expect(events()).toHaveLength(2);
    expect(events()[1]).toMatchObject({ outcome: 'failure', task: 'verify-restore', source: 'app', error: { code: 'E_DIFFERENT', message: expect.stringMatching(/: t has 20000 rows, not 19999\.$/) } });
  });
});
