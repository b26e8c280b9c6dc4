import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardApp } from '../../../../src/adapters/ui/app.js';
import { DashboardAssets } from '../../../../src/adapters/ui/assets.js';
import type { DashboardDeps } from '../../../../src/adapters/ui/dashboard-deps.js';
import { BroadcastProgress, type JobView, type LiveEvent, LiveEvents } from '../../../../src/adapters/ui/live-events.js';
import { SessionGate } from '../../../../src/adapters/ui/security.js';
import { silentLogger } from '../../../helpers/fakes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbb-ui-app-'));
  for (const f of ['index.html', 'app.js', 'app.css']) await writeFile(join(dir, f), `/* ${f} */`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The app over fake use-cases; `release()` lets the held backup finish. */
async function setUp() {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const events = new LiveEvents();
  const progress = new BroadcastProgress(events, 0);
  const runs = [
    { id: 1, schedule: 'main-nightly', task: 'backup', source: 'main', outcome: 'failure', startedAt: new Date('2026-01-01T02:00:00Z'), errorCode: 'E_CONN_REFUSED', errorMessage: 'down' },
    { id: 2, schedule: 'main-nightly', task: 'backup', source: 'main', outcome: 'success', startedAt: new Date('2026-01-02T02:00:00Z') },
    { id: 3, schedule: 'other', task: 'backup', source: 'other', outcome: 'failure', startedAt: new Date('2026-01-02T02:00:00Z') },
  ];
  const useCases = {
    runBackup: {
      execute: async () => {
        progress.start('backup main', 100);
        progress.advance(40, 'users');
        await held;
        progress.stop();
        return { manifest: { id: 'b-new', kind: 'full' }, repository: '/r' };
      },
    },
    listBackups: { execute: async () => ({ backups: [], problems: [], damaged: [] }) },
    manageSchedules: { history: async () => runs },
  } as unknown as DashboardDeps['useCases'];
  const deps: DashboardDeps = {
    useCases,
    sources: [{ name: 'main', engine: 'sqlite', targets: ['/r'] }],
    scheduledSource: async () => ({ backup: {} as never, repositories: ['/r'] }),
    runCli: async () => ({ code: 0, output: '' }),
    cliGlobals: [],
    logger: silentLogger,
    events,
    version: '0.0.0',
  };
  const gate = new SessionGate({ token: 'a-token-of-some-length' });
  const app = dashboardApp({ deps, gate, assets: new DashboardAssets(dir), secure: false, hostAllowed: () => true, signal: new AbortController().signal });
  const session = (await gate.login({ token: 'a-token-of-some-length' }))!;
  const call = (method: string, path: string, body?: unknown) =>
    app.fetch(
      new Request(`http://127.0.0.1:8787${path}`, {
        method,
        headers: { cookie: `dbbackup_session=${session.id}`, 'x-csrf-token': session.csrf, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
  return { call, release, events };
}

describe('the dashboard app (fake use-cases)', () => {
  it('runs one action at a time (409 for a second), publishing its progress and its end', async () => {
    const { call, release, events } = await setUp();
    const seen: LiveEvent[] = [];
    const finished = new Promise<JobView>((resolve) =>
      events.subscribe((e) => {
        seen.push(e);
        if (e.type === 'job' && e.job.state !== 'running') resolve(e.job);
      }),
    );
    const first = await call('POST', '/api/actions/backup', { source: 'main' });
    expect(first.status).toBe(202);
    const busy = await call('POST', '/api/actions/pin', { id: 'b-old', pinned: true });
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('E_BUSY');
    expect((await call('POST', '/api/actions/backup', { source: 'nope' })).status).toBe(400);
    release();
    expect(await finished).toMatchObject({ action: 'backup', subject: 'main', state: 'succeeded', summary: 'backup b-new (full) complete in /r' });
    const lines = seen.flatMap((e) => (e.type === 'progress' ? [e.line] : []));
    expect(lines[0]).toBe('backup main: 0 B of 100 B 0.0% at 0 B/s');
    expect(lines[1]).toMatch(/^backup main: 40 B of 100 B 40\.0% at .*\/s {2}users$/);
    expect(seen.filter((e) => e.type === 'progress').every((e) => e.type === 'progress' && e.job === 1)).toBe(true);
    expect(seen.map((e) => e.type)).toEqual(['job', 'progress', 'progress', 'progress', 'job']);
  });

  it("fills a source's timeline with its scheduled runs that made no backup", async () => {
    const { call } = await setUp();
    const answer = (await (await call('GET', '/api/sources/main/backups')).json()) as { failed: { id: number; errorCode?: string }[] };
    expect(answer.failed.map((r) => [r.id, r.errorCode])).toEqual([[1, 'E_CONN_REFUSED']]);
    expect((await call('GET', '/api/sources/..%2Fx/backups')).status).toBe(400);
  });
});
