import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CatalogBackup } from '../../../../src/application/ports/backup-catalog.js';
import type { SchedulerStatus } from '../../../../src/application/use-cases/manage-schedules.js';
import { sourcesOverview, storageGrowth } from '../../../../src/adapters/ui/overview.js';
import { runLogLines } from '../../../../src/adapters/ui/run-log.js';

const backup = (source: string, id: string, finishedAt: string, storedSize: number, repository = '/r'): CatalogBackup => ({
  id,
  repository,
  source,
  engine: 'sqlite',
  kind: 'full',
  parent: null,
  startedAt: finishedAt,
  finishedAt,
  storedSize,
  rawSize: storedSize,
  durationMs: 10,
  status: 'complete',
  objectCount: 1,
  partCount: 2,
});

const schedule = (name: string, source: string, extra: Partial<SchedulerStatus['schedules'][number]>): SchedulerStatus['schedules'][number] => ({
  name,
  origin: 'config',
  cron: '0 2 * * *',
  timezone: 'UTC',
  task: 'backup',
  source,
  catchUp: 'once',
  enabled: true,
  consecutiveFailures: 0,
  ...extra,
});

describe('dashboard overview', () => {
  it('gives each source its last success, age, next run, windows, failures and warnings', () => {
    const status: SchedulerStatus = {
      at: new Date(0),
      daemons: [],
      counts: [],
      problems: [{ name: 'b-hourly', origin: 'cli', problem: 'source b is not in the config' }],
      schedules: [
        schedule('a-nightly', 'a', { nextRun: new Date('2026-01-02T02:00:00Z') }),
        schedule('a-hourly', 'a', { nextRun: new Date('2026-01-01T13:00:00Z') }),
        schedule('a-off', 'a', { enabled: false, nextRun: new Date('2026-01-01T12:30:00Z') }),
        schedule('c-daily', 'c', { running: { owner: 'd1', since: new Date('2026-01-01T11:59:00Z'), heartbeatAt: new Date('2026-01-01T11:59:30Z') } }),
        schedule('b-hourly', 'b', { consecutiveFailures: 2, lastRun: { errorCode: 'E_CONN_REFUSED', errorMessage: 'no server' } as never }),
      ],
    };
    const [a, b, c] = sourcesOverview({
      configured: [
        { name: 'a', engine: 'postgres', targets: ['/r'] },
        { name: 'c', engine: 'mysql', targets: [] },
      ],
      backups: [backup('a', 'a2', '2026-01-01T11:00:00Z', 5), backup('a', 'a1', '2026-01-01T10:00:00Z', 3), backup('b', 'b1', '2026-01-01T09:00:00Z', 1, '/s')],
      status,
      windows: [{ repository: '/r', source: 'a', backups: 2, windows: [{ from: 'x', to: 'y' }] }],
      problems: [],
      damaged: [{ source: 'b', id: 'b0', message: 'bad manifest' }],
      now: new Date('2026-01-01T12:00:00Z'),
    });
    expect(a).toMatchObject({ name: 'a', engine: 'postgres', configured: true, backups: 2, lastSuccess: { id: 'a2' }, ageMs: 3_600_000, nextRun: '2026-01-01T13:00:00.000Z', failures: [], warnings: [] });
    expect(a!.windows).toEqual([{ repository: '/r', windows: [{ from: 'x', to: 'y' }] }]);
    expect(b).toMatchObject({ name: 'b', engine: 'sqlite', configured: false, targets: ['/s'], failures: [{ schedule: 'b-hourly', count: 2, code: 'E_CONN_REFUSED', message: 'no server' }] });
    expect(b!.warnings).toEqual(['schedule b-hourly: source b is not in the config', 'damaged backup b0: bad manifest']);
    expect(c).toMatchObject({ name: 'c', backups: 0, warnings: ['no backup yet'], running: { schedule: 'c-daily', since: '2026-01-01T11:59:00.000Z' } });
    expect(a!.running).toBeUndefined();
    expect(c!.lastSuccess).toBeUndefined();
  });

  it('adds up each target\'s stored bytes over time', () => {
    expect(storageGrowth([backup('a', '2', '2026-01-02T00:00:00Z', 5), backup('a', '1', '2026-01-01T00:00:00Z', 3), backup('b', '3', '2026-01-03T00:00:00Z', 7, '/s')])).toEqual([
      { repository: '/r', points: [{ at: '2026-01-01T00:00:00Z', bytes: 3 }, { at: '2026-01-02T00:00:00Z', bytes: 8 }] },
      { repository: '/s', points: [{ at: '2026-01-03T00:00:00Z', bytes: 7 }] },
    ]);
  });

  it('finds a run\'s lines in the log file, and only that run\'s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbb-runlog-'));
    try {
      const file = join(dir, 'dbbackup.log');
      const lines = [
        { msg: 'run started', schedule: 'a', run: 7 },
        { msg: 'other run', schedule: 'a', run: 70 },
        { msg: 'other schedule', schedule: 'b', run: 7 },
        { msg: 'run finished', schedule: 'a', run: 7, url: 'postgres://u:secret@h/db' },
      ];
      await writeFile(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n{"torn":`);
      const found = await runLogLines(file, { id: 7, schedule: 'a' });
      expect(found.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['run started', 'run finished']);
      expect(found[1]).not.toContain('secret');
      expect(await runLogLines(join(dir, 'missing.log'), { id: 7, schedule: 'a' })).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
