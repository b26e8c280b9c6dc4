import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { tempDir } from '../../helpers/temp.js';
import { type Daemon, executed, runs, sqliteSetup, startDaemon, waitFor } from './daemon-harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
const daemons: Daemon[] = [];

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
});
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function workspace(prefix: string, schedules: string, extra = '') {
  const dir = await tempDir(prefix);
  cleanups.push(() => dir.cleanup());
  const env = await sqliteSetup(dir.path, schedules, extra);
  return { dir: dir.path, env, dataDir: env.DBBACKUP_DATA_DIR! };
}

describe('two daemons on one catalog', () => {
  it('never run a job twice at once (the run history proves it)', async () => {
    const w = await workspace('dbb-sched-two-', '  - { name: every-second, cron: "* * * * * *", task: backup, source: app, timezone: UTC }');
    const a = startDaemon(['--stop-timeout', '90s', '--verbose'], { env: w.env, cwd: w.dir });
    const b = startDaemon(['--stop-timeout', '90s', '--verbose'], { env: w.env, cwd: w.dir });
    daemons.push(a, b);
    // A daemon takes part when it runs a slot, records an overlap it avoided, or finds a slot already
    // claimed by the other (a debug line). Which one wins each claim is up to the scheduler's timers:
    // on a loaded machine one daemon may win every race, so the history alone cannot show both.
    const contended = (d: Daemon) => d.stdout().includes('slot already handled by another daemon');
    const tookPart = (d: Daemon, h: ReturnType<typeof runs>) => h.some((r) => r.owner.includes(`:${d.child.pid}:`)) || contended(d);
    const bothTookPart = (h: ReturnType<typeof runs>) => tookPart(a, h) && tookPart(b, h);
    await waitFor('three successful runs', 110_000, () => runs(w.dataDir).filter((r) => r.outcome === 'success').length >= 3, w.dataDir);
    const codes: number[] = [];
    if (!bothTookPart(runs(w.dataDir))) {
      // One daemon won every race (its timer always fired first, so the other never even saw a due
      // slot): stop it; the other must then take the next slots.
      const [winner, other] = tookPart(a, runs(w.dataDir)) ? [a, b] : [b, a];
      codes.push(await winner.stop());
      await waitFor('the other daemon runs a slot once the first stopped', 60_000, () => tookPart(other, runs(w.dataDir)), w.dataDir);
      codes.push(await other.stop());
    } else codes.push(...(await Promise.all([a.stop(), b.stop()])));
    expect(codes).toEqual([0, 0]);

    const history = runs(w.dataDir);
    const ran = executed(history).sort((x, y) => x.started_at.localeCompare(y.started_at));
    expect(ran.filter((r) => r.outcome !== 'success')).toEqual([]);
    for (let i = 1; i < ran.length; i++) {
      expect(ran[i]!.started_at >= ran[i - 1]!.finished_at!, `run ${ran[i]!.id} started before run ${ran[i - 1]!.id} finished`).toBe(true);
    }
    // Every slot was handled once: run or skipped, by one daemon or the other, never both.
    const slots = history.filter((r) => r.outcome !== 'missed').map((r) => r.slot);
    expect(new Set(slots).size).toBe(slots.length);
    // Both daemons took part: each ran or skipped a slot, or one found the other's claim first.
    expect(bothTookPart(history)).toBe(true);
  });
});

describe('a failing scheduled job', () => {
  it('is retried, recorded as a failure, counted, and produces one webhook notification', async () => {
    const hook = await startRecorder();
    cleanups.push(() => hook.close());
    const w = await workspace('dbb-sched-fail-', '  []', `notifications:\n  - { type: webhook, url: "${hook.url}/hook", on: [failure], retries: 0 }`);
    const cli = (...args: string[]) => runCli(args, { env: w.env, cwd: w.dir });

    const bad = await cli('schedule', 'add', '--cron', '0 25 * * *', '--source', 'broken');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Invalid cron expression "0 25 \* \* \*": 25 is out of range 0-23 in the hour field/);

    const added = await cli('schedule', 'add', '--cron', '* * * * * *', '--task', 'backup', '--source', 'broken', '--name', 'broken-backup', '--timezone', 'UTC');
    expect(added.code, added.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1_200));
    const metrics = join(w.dir, 'dbbackup.prom');
    const once = await cli('schedule', 'run', '--once', '--retries', '1', '--retry-delay', '1s', '--metrics', metrics);
    expect(once.code, once.stderr).toBe(1);

    expect(hook.requests).toHaveLength(1);
    const event = JSON.parse(hook.requests[0]!.body) as Record<string, unknown>;
    expect(event).toMatchObject({ version: 1, outcome: 'failure', task: 'backup', source: 'broken', error: { code: 'E_NOT_FOUND' } });

    const history = executed(runs(w.dataDir));
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ schedule: 'broken-backup', outcome: 'failure', attempts: 2, error_code: 'E_NOT_FOUND', trigger: 'catch-up' });

    const list = await cli('schedule', 'list', '--json');
    const views = (JSON.parse(list.stdout) as { schedules: Record<string, unknown>[] }).schedules;
    expect(views).toEqual([expect.objectContaining({ name: 'broken-backup', origin: 'cli', lastOutcome: 'failure', consecutiveFailures: 1 })]);
    expect(readFileSync(metrics, 'utf8')).toMatch(/^dbbackup_schedule_consecutive_failures\{schedule="broken-backup",task="backup",source="broken"\} 1$/m);

    const unit = await cli('schedule', 'systemd-unit', '--user', 'backup', '--stop-timeout', '5m');
    expect(unit.code).toBe(0);
    expect(unit.stdout).toMatch(/^ExecStart=\S+ \S+dbbackup\.js schedule run --stop-timeout 5m --config \S+dbbackup\.yaml$/m);
    expect(unit.stdout).toMatch(/^TimeoutStopSec=330$/m);
    expect(unit.stdout).toMatch(/^User=backup$/m);
  });
});
