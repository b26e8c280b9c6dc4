import { describe, expect, it } from 'vitest';
import { RepositoryCompletedBackups } from '../../../src/application/services/repository-completed-backups.js';
import { RunBackup } from '../../../src/application/use-cases/run-backup.js';
import { RunScheduledTask, type ScheduledSource } from '../../../src/application/use-cases/run-scheduled-task.js';
import { VerifyBackup } from '../../../src/application/use-cases/verify-backup.js';
import type { VerifyRestore, VerifyRestoreResult } from '../../../src/application/use-cases/verify-restore.js';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { renderMetrics } from '../../../src/adapters/scheduler/prometheus-metrics.js';
import { DbBackupError } from '../../../src/domain/errors.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { FakeConnector, fixedClock, MemoryCatalog, MemoryOpener, silentLogger } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

function setup() {
  const store = new MemoryBlobStore();
  const connector = new FakeConnector({ users: ['1\talice'] });
  const deps = {
    connectors: new MapConnectorRegistry([connector]),
    opener: new MemoryOpener(store),
    codecs: new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]),
    catalog: new MemoryCatalog(),
    clock: fixedClock(),
    logger: silentLogger,
    progress: new NullProgress(),
  };
  const source: ScheduledSource = {
    backup: { target: { engine: 'postgres', database: 'app' }, repository: 'mem', source: 'app', compression: { codec: 'zstd' }, parallel: 1 },
    defaultKind: 'full',
    repositories: ['mem'],
  };
  const sources = (name: string) => {
    if (name !== 'app') throw new DbBackupError('E_CONFIG', `No source "${name}"`);
    return source;
  };
  const runBackup = new RunBackup({ ...deps, toolVersion: 't' });
  const verifyBackup = new VerifyBackup(deps);
  const task = new RunScheduledTask({ runBackup, verifyBackup, source: sources });
  /** The task with `verify --deep` answered by `deep` (the real one is tested against servers in test/integration). */
  const withDeep = (deep: (input: { repository: string; manifest: { id: string }; scratch?: { url?: string } }) => Promise<VerifyRestoreResult>) =>
    new RunScheduledTask({ runBackup, verifyBackup, source: sources, verifyRestore: { execute: deep } as unknown as VerifyRestore });
  return { task, connector, source, withDeep, store };
}

const signal = () => new AbortController().signal;

describe('RunScheduledTask (one attempt, inside a job worker)', () => {
  it("records its scheduled run in the backup's manifest, by which the run's backup is found again (a killed worker's run is settled so)", async () => {
    const { task, store } = setup();
    const slot = new Date('2026-11-25T02:00:00Z');
    const backup = await task.execute({ task: 'backup', source: 'app', scheduledRun: { id: 7, schedule: 'app-job', slot: slot.toISOString() } }, signal());
    const other = await task.execute({ task: 'backup', source: 'app' }, signal());
    const found = new RepositoryCompletedBackups({ opener: new MemoryOpener(store), repositoriesOf: () => ['mem'], logger: silentLogger });
    const run = { id: 7, schedule: 'app-job', task: 'backup', source: 'app', slot, trigger: 'schedule', owner: 'w', startedAt: slot, outcome: 'interrupted' as const, attempts: 0 };
    expect(await found.ofRun(run)).toEqual({ found: [expect.objectContaining({ backupId: backup.backupId, storedSize: backup.storedSize })], missing: 0 });
    expect(other.backupId).not.toBe(backup.backupId);
    // Another run, another schedule's run of the same id, or a task that takes no backup: nothing found.
    expect(await found.ofRun({ ...run, id: 8 })).toEqual({ found: [], missing: 1 });
    expect(await found.ofRun({ ...run, schedule: 'other-job' })).toEqual({ found: [], missing: 1 });
    expect(await found.ofRun({ ...run, task: 'verify' })).toEqual({ found: [], missing: 0 });
  });

  it('backs up a configured source and then verifies its latest backup', async () => {
    const { task } = setup();
    const backup = await task.execute({ task: 'backup', source: 'app' }, signal());
    expect(backup).toMatchObject({ outcome: 'success', kind: 'full', repository: 'memory://test' });
    expect(backup.backupId).toMatch(/-full-/);
    expect(backup.storedSize).toBeGreaterThan(0);
    expect(await task.execute({ task: 'verify', source: 'app' }, signal())).toMatchObject({ outcome: 'success', backupId: backup.backupId });
  });

  it('verify-restore: checks the newest backup, then restores it into the source\'s scratch server; without one, a config error that says what to set', async () => {
    const { task, source, withDeep } = setup();
    const backup = await task.execute({ task: 'backup', source: 'app' }, signal());
    expect(await task.execute({ task: 'verify-restore', source: 'app' }, signal())).toMatchObject({ outcome: 'failure', error: { code: 'E_UNSUPPORTED' } });
    const seen: { backup: string; scratch?: string }[] = [];
    const ok = withDeep(async (input) => {
      seen.push({ backup: input.manifest.id, scratch: input.scratch?.url });
      return { scratch: 'dbbackup_verify_x on the --scratch server', tables: [{ table: 'users', expectedRows: 1, rows: 1, expectedHash: '0123456789abcdef', hash: '0123456789abcdef', ok: true }] };
    });
    source.scratch = 'postgres://verify@db2/postgres';
    expect(await ok.execute({ task: 'verify-restore', source: 'app' }, signal())).toEqual({
      outcome: 'success',
      backupId: backup.backupId,
      repository: 'memory://test',
      kind: 'full',
      note: 'restored into dbbackup_verify_x on the --scratch server: 1 table(s), 1 rows, as recorded (1 with contents hashed)',
    });
    expect(seen).toEqual([{ backup: backup.backupId, scratch: 'postgres://verify@db2/postgres' }]);
    delete source.scratch;
    const noServer = withDeep(async () => {
      throw new DbBackupError('E_USAGE', 'verify --deep of a postgres backup needs --scratch URL.');
    });
    expect(await noServer.execute({ task: 'verify-restore', source: 'app' }, signal())).toMatchObject({
      outcome: 'failure',
      error: { code: 'E_CONFIG', message: expect.stringMatching(/^verify-restore of source "app" needs a server for its scratch database: set sources\.app\.scratch /) },
    });
    const differs = withDeep(async () => {
      throw new DbBackupError('E_DIFFERENT', 'users has 2 rows, not 1.');
    });
    expect(await differs.execute({ task: 'verify-restore', source: 'app' }, signal())).toMatchObject({ outcome: 'failure', error: { code: 'E_DIFFERENT' } });
  });

  it('never throws: failures, unknown sources, prune without retention and cancellation become outcomes', async () => {
    const { task, connector } = setup();
    connector.failOn = 'users';
    expect(await task.execute({ task: 'backup', source: 'app' }, signal())).toMatchObject({ outcome: 'failure', error: { code: 'E_BACKUP_FAILED' } });
    expect(await task.execute({ task: 'backup', source: 'nope' }, signal())).toMatchObject({ outcome: 'failure', error: { code: 'E_CONFIG' } });
    expect(await task.execute({ task: 'prune', source: 'app' }, signal())).toMatchObject({ outcome: 'failure', error: { code: 'E_UNSUPPORTED' } });
    const c = new AbortController();
    c.abort();
    expect(await task.execute({ task: 'backup', source: 'app' }, c.signal)).toMatchObject({ outcome: 'interrupted', error: { code: 'E_INTERRUPTED' } });
  });
});

describe('Prometheus metrics of the scheduler state', () => {
  it('renders gauges per schedule and counters per outcome, with escaped labels', () => {
    const at = new Date('2026-11-25T10:00:00Z');
    const text = renderMetrics({
      at,
      daemons: [{ owner: 'h:1:a', host: 'h', pid: 1, startedAt: at, heartbeatAt: at }],
      schedules: [
        {
          name: 'main "nightly"',
          origin: 'config',
          cron: '0 2 * * *',
          timezone: 'UTC',
          task: 'backup',
          source: 'main',
          catchUp: 'once',
          enabled: true,
          nextRun: new Date('2026-11-26T02:00:00Z'),
          lastSuccessAt: at,
          consecutiveFailures: 2,
          lastRun: { id: 3, schedule: 'x', task: 'backup', source: 'main', trigger: 'schedule', owner: 'o', startedAt: at, outcome: 'failure', attempts: 3, durationMs: 1500 },
          lastSuccess: { id: 1, schedule: 'x', task: 'backup', source: 'main', trigger: 'schedule', owner: 'o', startedAt: at, outcome: 'success', attempts: 1, storedSize: 4096 },
        },
      ],
      counts: [{ schedule: 'main "nightly"', outcome: 'failure', count: 2 }],
      problems: [],
    });
    const labels = '{schedule="main \\"nightly\\"",task="backup",source="main"}';
    expect(text).toContain(`dbbackup_schedule_last_success_timestamp_seconds${labels} ${at.getTime() / 1000}\n`);
    expect(text).toContain(`dbbackup_schedule_last_run_duration_seconds${labels} 1.5\n`);
    expect(text).toContain(`dbbackup_schedule_last_backup_size_bytes${labels} 4096\n`);
    expect(text).toContain(`dbbackup_schedule_consecutive_failures${labels} 2\n`);
    expect(text).toContain('dbbackup_schedule_runs_total{schedule="main \\"nightly\\"",outcome="failure"} 2\n');
    expect(text).toContain('# TYPE dbbackup_schedule_runs_total counter\n');
    expect(text).toContain('dbbackup_scheduler_daemons 1\n');
  });
});
