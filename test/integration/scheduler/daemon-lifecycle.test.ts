import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/**
 * A webhook that holds its first notification until `release()`: the daemon awaits a run's
 * notification before it releases the schedule's lock, so that run is held open on purpose and the
 * slots falling due meanwhile must be skipped as overlaps (no luck with run durations needed).
 */
async function holdingHook(): Promise<{ url: string; held: Promise<void>; release(): void; close(): Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let heldNow!: () => void;
  const held = new Promise<void>((r) => (heldNow = r));
  let n = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (n++ === 0) {
        heldNow();
        void gate.then(() => res.end('ok'));
      } else res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    held,
    release,
    close: () =>
      new Promise<void>((r) => {
        release();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let hook: Awaited<ReturnType<typeof holdingHook>>;

beforeAll(async () => {
  dir = await tempDir('dbb-sched-life-');
  hook = await holdingHook();
  env = await sqliteSetup(
    dir.path,
    '  - { name: every-second, cron: "* * * * * *", task: backup, source: app, timezone: UTC }',
    `notifications:\n  - { type: webhook, url: "${hook.url}", on: [success], retries: 0, timeout: 10m }`,
  );
  dataDir = env.DBBACKUP_DATA_DIR!;
});

afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  await hook.close();
  await dir.cleanup();
});

const daemon = (...args: string[]) => {
  const d = startDaemon(args, { env, cwd: dir.path });
  daemons.push(d);
  return d;
};

describe('schedule run: the daemon', () => {
  let lastIdBeforeRestart = 0;

  it('runs backups for their slots, skips as overlaps the slots due while a run is held open; SIGTERM mid-run lets the run finish and exits 0', async () => {
    const d = daemon('--stop-timeout', '90s');
    // The first run is held open (its notification is not answered) until a slot that fell due
    // meanwhile has been skipped as an overlap; then it is let go.
    await hook.held;
    const heldRun = runs(dataDir).find((r) => r.outcome === 'success')!;
    const overlap = await waitFor(
      'a slot skipped as an overlap while the first run is held',
      60_000,
      () => runs(dataDir).find((r) => r.outcome === 'skipped' && /^overlap/.test(r.note ?? '')),
      dataDir,
    );
    expect(overlap.slot! > heldRun.slot!).toBe(true);
    expect(runs(dataDir).filter((r) => r.outcome === 'running')).toEqual([]);
    hook.release();
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
      // Each run is for a whole-second slot and started at or after it (how soon is the machine's business).
      expect(r.slot).toMatch(/\.000Z$/);
      expect(Date.parse(r.started_at)).toBeGreaterThanOrEqual(Date.parse(r.slot!));
      expect(existsSync(join(dir.path, 'repo', 'app', r.backup_id!, 'manifest.json'))).toBe(true);
    }
    // A schedule never overlaps itself: slots that came due mid-run were skipped and recorded.
    const ran = executed(history).sort((a, b) => a.started_at.localeCompare(b.started_at));
    for (let i = 1; i < ran.length; i++) expect(ran[i]!.started_at >= ran[i - 1]!.finished_at!).toBe(true);
    // Every slot has at most one record (run, overlap skip or folded into a newer run).
    const slots = history.map((r) => r.slot);
    expect(new Set(slots).size).toBe(slots.length);
    // Logs: JSON lines on stdout and in the log file.
    expect(d.stdout()).toMatch(/"msg":"scheduler stopping"/);
    expect(d.stdout()).toMatch(/"msg":"scheduler stopped"/);
    expect(d.stdout()).toMatch(/"msg":"backup complete"/);
    expect(readFileSync(join(env.XDG_STATE_HOME!, 'dbbackup', 'logs', 'dbbackup.log'), 'utf8')).toMatch(/"msg":"run finished"/);
    lastIdBeforeRestart = Math.max(...history.map((r) => r.id));
  });

  it('after downtime, a restart performs at most one catch-up run and records every slot it missed', async () => {
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
    // Every slot of the downtime (3 s at least) has its own missed record.
    const missed = after.filter((r) => r.outcome === 'missed');
    expect(missed.length).toBeGreaterThanOrEqual(2);
    for (const m of missed) expect(m.note).toMatch(/^missed while no daemon was running \(catch-up: once\)/);
    if (catchUps.length === 1) expect(ran[0]).toBe(catchUps[0]);
    else expect(ran[0]!.trigger).toBe('schedule');
    // No slot unaccounted for: each second from the last one before the restart to the first run
    // after it has exactly one record (missed, folded into a newer run, or run).
    const before = Math.max(...runs(dataDir).filter((r) => r.id <= lastIdBeforeRestart).map((r) => Date.parse(r.slot!)));
    const recorded = after.map((r) => Date.parse(r.slot!)).filter((t) => t <= Date.parse(ran[0]!.slot!));
    const expected = Array.from({ length: (Date.parse(ran[0]!.slot!) - before) / 1000 }, (_, k) => before + (k + 1) * 1000);
    expect(recorded.sort((a, b) => a - b)).toEqual(expected);
    expect(after.filter((r) => r.outcome === 'running')).toEqual([]);
  });
});
