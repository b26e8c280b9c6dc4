import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/temp.js';
import { type Daemon, executed, runs, sqliteSetup, startDaemon, waitFor } from './daemon-harness.js';

/**
 * The real daemon (built CLI, bree worker threads) on an every-second schedule against SQLite.
 * The machine is slow and busy: a run takes seconds (mostly worker start-up), so the assertions
 * are on the run history, not on exact timing.
 */
let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let dataDir: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  dir = await tempDir('dbb-sched-life-');
  env = await sqliteSetup(dir.path, '  - { name: every-second, cron: "* * * * * *", task: backup, source: app, timezone: UTC }');
  dataDir = env.DBBACKUP_DATA_DIR!;
});

afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  await dir.cleanup();
});

const daemon = (...args: string[]) => {
  const d = startDaemon(args, { env, cwd: dir.path });
  daemons.push(d);
  return d;
};

describe('schedule run: the daemon', () => {
  let lastIdBeforeRestart = 0;

  it('runs backups on time; SIGTERM mid-run lets the run finish and exits 0', async () => {
    const d = daemon('--stop-timeout', '90s');
    const ok = await waitFor('two successful runs', 100_000, () => runs(dataDir).filter((r) => r.outcome === 'success').length >= 2, dataDir);
    expect(ok).toBe(true);
    // Stop while a run is in progress.
    const inFlight = await waitFor('a run in progress', 60_000, () => runs(dataDir).find((r) => r.outcome === 'running'), dataDir);
    expect(await d.stop('SIGTERM')).toBe(0);

    const history = runs(dataDir);
    expect(history.find((r) => r.id === inFlight.id)).toMatchObject({ outcome: 'success', schedule: 'every-second' });
    expect(history.filter((r) => r.outcome === 'running')).toEqual([]);
    const done = history.filter((r) => r.outcome === 'success');
    expect(done.length).toBeGreaterThanOrEqual(3);
    for (const r of done) {
      // On time: each run is for a whole-second slot and started within a few seconds of it.
      expect(r.slot).toMatch(/\.000Z$/);
      expect(Date.parse(r.started_at) - Date.parse(r.slot!)).toBeLessThan(5_000);
      expect(Date.parse(r.started_at)).toBeGreaterThanOrEqual(Date.parse(r.slot!));
      expect(existsSync(join(dir.path, 'repo', 'app', r.backup_id!, 'manifest.json'))).toBe(true);
    }
    // A schedule never overlaps itself: slots that came due mid-run were skipped and recorded.
    const ran = executed(history).sort((a, b) => a.started_at.localeCompare(b.started_at));
    for (let i = 1; i < ran.length; i++) expect(ran[i]!.started_at >= ran[i - 1]!.finished_at!).toBe(true);
    // A run long enough that the next slot surely ticked while it ran shows the overlap skip (fast runs
    // on a quiet machine have none; the skip itself is unit-tested in schedule-scheduler.test.ts).
    if (ran.some((r) => r.finished_at && Date.parse(r.finished_at) - Date.parse(r.started_at) > 3_000)) {
      expect(history.some((r) => r.outcome === 'skipped' && /^overlap/.test(r.note ?? ''))).toBe(true);
    }
    // Logs: JSON lines on stdout and in the log file.
    expect(d.stdout()).toMatch(/"msg":"scheduler stopping"/);
    expect(d.stdout()).toMatch(/"msg":"scheduler stopped"/);
    expect(d.stdout()).toMatch(/"msg":"backup complete"/);
    expect(readFileSync(join(env.XDG_STATE_HOME!, 'dbbackup', 'logs', 'dbbackup.log'), 'utf8')).toMatch(/"msg":"run finished"/);
    lastIdBeforeRestart = Math.max(...history.map((r) => r.id));
  });

  it('after downtime, a restart performs exactly one catch-up run', async () => {
    expect(lastIdBeforeRestart).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3_000));
    const d = daemon('--stop-timeout', '90s');
    const fresh = () => runs(dataDir).filter((r) => r.id > lastIdBeforeRestart);
    // The first run after the restart catches up: a catch-up run of the newest missed slot or, when a
    // slot fell due while the daemon was starting (every second here, so it happens), that slot's own
    // run, which makes an extra catch-up run needless (catch-up: once; see the planDue unit tests).
    await waitFor('the first run after the restart to finish', 90_000, () => executed(fresh()).some((r) => r.outcome === 'success'), dataDir);
    expect(await d.stop('SIGTERM')).toBe(0);
    const after = fresh();
    const ran = executed(after);
    const catchUps = ran.filter((r) => r.trigger === 'catch-up');
    expect(catchUps.length).toBeLessThanOrEqual(1);
    const missed = after.filter((r) => r.outcome === 'missed');
    expect(missed).toHaveLength(1);
    if (catchUps.length === 1) {
      expect(ran[0]).toBe(catchUps[0]);
      expect(Date.parse(catchUps[0]!.slot!) - Date.parse(missed[0]!.slot!)).toBe(1000);
    } else {
      expect(ran[0]!.trigger).toBe('schedule');
      const gap = Date.parse(ran[0]!.slot!) - Date.parse(missed[0]!.slot!);
      expect(gap).toBeGreaterThan(0);
      expect(gap).toBeLessThanOrEqual(5_000);
    }
    expect(missed[0]!.note).toMatch(/^\d+ run\(s\) missed between .* while no daemon was running \(catch-up: once\)$/);
    expect(Number(/^(\d+)/.exec(missed[0]!.note!)![1])).toBeGreaterThanOrEqual(2);
    expect(after.filter((r) => r.outcome === 'running')).toEqual([]);
  });
});
