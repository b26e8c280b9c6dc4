import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileProgress, parseProgressRecord, progressFolder } from '../../../../src/adapters/progress/progress-file.js';
import { dashboardApp } from '../../../../src/adapters/ui/app.js';
import { DashboardAssets } from '../../../../src/adapters/ui/assets.js';
import { watchDaemonProgress } from '../../../../src/adapters/ui/daemon-progress.js';
import type { DashboardDeps } from '../../../../src/adapters/ui/dashboard-deps.js';
import { LiveEvents } from '../../../../src/adapters/ui/live-events.js';
import { SessionGate } from '../../../../src/adapters/ui/security.js';
import { silentLogger } from '../../../helpers/fakes.js';
import { tempDir } from '../../../helpers/temp.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The dashboard's event stream (GET /api/events through the real app), parsed as it arrives. */
async function eventStream(events: LiveEvents, assetsDir: string) {
  const deps = {
    useCases: {} as DashboardDeps['useCases'],
    sources: [],
    scheduledSource: async () => ({ backup: {} as never, repositories: [] }),
    runCli: async () => ({ code: 0, output: '' }),
    cliGlobals: [],
    logger: silentLogger,
    events,
    version: '0.0.0',
  } satisfies DashboardDeps;
  for (const f of ['index.html', 'app.js', 'app.css']) await writeFile(join(assetsDir, f), `/* ${f} */`);
  const gate = new SessionGate({ token: 'a-token-of-some-length' });
  const controller = new AbortController();
  const app = dashboardApp({ deps, gate, assets: new DashboardAssets(assetsDir), secure: false, hostAllowed: () => true, signal: controller.signal });
  const session = (await gate.login({ token: 'a-token-of-some-length' }))!;
  const res = await app.fetch(new Request('http://127.0.0.1:8787/api/events', { headers: { cookie: `dbbackup_session=${session.id}` }, signal: controller.signal }));
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  cleanups.push(() => (controller.abort(), reader.cancel().catch(() => undefined)));
  const seen: { event: string; data: Record<string, unknown> }[] = [];
  let buffer = '';
  /** Reads until `check` holds for what was seen (no clock: the stream's own events end the wait). */
  const until = async (check: (s: typeof seen) => boolean) => {
    while (!check(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffer += new TextDecoder().decode(value);
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) seen.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
    return seen;
  };
  await until((s) => s.some((e) => e.event === 'hello'));
  return { until, seen };
}

describe("a scheduler daemon's run progress, seen by the dashboard", () => {
  it('is a 0600 file in a 0700 folder while the run goes, forwarded on the event stream, and gone (done) when it ends', async () => {
    const dir = await tempDir('dbb-ui-daemon-');
    cleanups.push(() => dir.cleanup());
    const folder = progressFolder(join(dir.path, 'data'));
    await mkdir(join(dir.path, 'data'), { recursive: true });
    const events = new LiveEvents();
    const stream = await eventStream(events, dir.path);

    const progress = new FileProgress(folder, { schedule: 'main-nightly', source: 'main' }, 0);
    progress.start('backup main', 100);
    progress.advance(40, 'public.users');
    const file = join(folder, `${progress.run}.json`);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const record = parseProgressRecord(readFileSync(file, 'utf8'))!;
    expect(record).toMatchObject({ run: progress.run, schedule: 'main-nightly', source: 'main', label: 'backup main', bytes: 40, total: 100, object: 'public.users', pid: process.pid });

    // Untrusted neighbours: malformed, oversized, and a crashed process's record are ignored.
    await writeFile(join(folder, 'junk.json'), '{"v":1,"run":');
    await writeFile(join(folder, 'big.json'), JSON.stringify({ ...record, run: 'big', object: 'x'.repeat(10_000) }));
    await writeFile(join(folder, 'dead.json'), JSON.stringify({ ...record, run: 'dead', pid: 2 ** 22 + 12345 }));

    const stop = watchDaemonProgress(folder, events, 10);
    cleanups.push(stop);
    const running = await stream.until((s) => s.some((e) => e.event === 'progress' && e.data.run === progress.run && String(e.data.line).includes('40 B of 100 B 40.0%')));
    const first = running.find((e) => e.event === 'progress')!;
    expect(first.data).toMatchObject({ type: 'progress', run: progress.run, schedule: 'main-nightly', source: 'main', bytes: 40, total: 100, object: 'public.users', done: false });
    expect(String(first.data.line)).toMatch(/^backup main: 40 B of 100 B 40\.0% at .*\/s.*  public\.users$/);

    progress.advance(60, 'public.orders');
    await stream.until((s) => s.some((e) => e.event === 'progress' && e.data.bytes === 100 && e.data.object === 'public.orders'));

    progress.stop();
    expect(existsSync(file)).toBe(false);
    const all = await stream.until((s) => s.some((e) => e.event === 'progress' && e.data.done === true));
    const progressEvents = all.filter((e) => e.event === 'progress');
    expect(progressEvents.every((e) => e.data.run === progress.run)).toBe(true);
    expect(progressEvents.at(-1)!.data).toMatchObject({ done: true, bytes: 100, source: 'main' });
  });

  it('writes nothing before start, at most once per interval, and nothing is left after close()', async () => {
    const dir = await tempDir('dbb-ui-daemon-');
    cleanups.push(() => dir.cleanup());
    const folder = join(dir.path, 'progress');
    const progress = new FileProgress(folder, { source: 'main' }, 60_000);
    progress.advance(5);
    expect(existsSync(folder)).toBe(false);
    progress.start('backup main');
    const file = join(folder, `${progress.run}.json`);
    progress.advance(7, 't');
    // Within the interval the file still holds what start() wrote.
    expect(parseProgressRecord(readFileSync(file, 'utf8'))).toMatchObject({ bytes: 0 });
    progress.close();
    expect(existsSync(file)).toBe(false);
  });
});
