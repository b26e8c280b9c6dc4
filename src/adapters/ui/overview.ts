import type { CatalogBackup } from '../../application/ports/backup-catalog.js';
import type { SourceWindows } from '../../application/use-cases/list-backups.js';
import type { SchedulerStatus } from '../../application/use-cases/manage-schedules.js';
import type { SourceSummary } from './dashboard-deps.js';
import type { SourceOverview } from './wire.js';

export type { SourceOverview };

/**
 * Every source's health at a glance, from what the use-cases return: the catalog's backups, the
 * schedules' state and the restorable windows (`list --windows`). Pure: the caller fetched it all.
 */
export function sourcesOverview(input: {
  configured: SourceSummary[];
  backups: CatalogBackup[];
  status: SchedulerStatus;
  windows: SourceWindows[];
  problems: { repository: string; message: string }[];
  damaged: { source: string; id: string; message: string }[];
  now: Date;
}): SourceOverview[] {
  const names = [...new Set([...input.configured.map((s) => s.name), ...input.backups.map((b) => b.source)])].sort();
  return names.map((name) => {
    const conf = input.configured.find((s) => s.name === name);
    const own = input.backups.filter((b) => b.source === name).sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
    const last = own.at(-1);
    const schedules = input.status.schedules.filter((s) => s.source === name);
    const next = schedules
      .filter((s) => s.enabled && s.task === 'backup' && s.nextRun)
      .map((s) => s.nextRun!.toISOString())
      .sort()[0];
    return {
      name,
      engine: conf?.engine ?? last?.engine ?? '-',
      configured: conf !== undefined,
      targets: conf?.targets ?? [...new Set(own.map((b) => b.repository))],
      backups: own.length,
      ...(last
        ? {
            lastSuccess: { id: last.id, kind: last.kind, finishedAt: last.finishedAt, storedSize: last.storedSize, repository: last.repository },
            ageMs: Math.max(0, input.now.getTime() - Date.parse(last.finishedAt)),
          }
        : {}),
      ...(next ? { nextRun: next } : {}),
      ...running(schedules),
      windows: input.windows.filter((w) => w.source === name).map((w) => ({ repository: w.repository, windows: w.windows })),
      failures: schedules
        .filter((s) => s.consecutiveFailures > 0)
        .map((s) => ({ schedule: s.name, count: s.consecutiveFailures, code: s.lastRun?.errorCode, message: s.lastRun?.errorMessage })),
      warnings: [
        ...input.status.problems.filter((p) => schedules.some((s) => s.name === p.name)).map((p) => `schedule ${p.name}: ${p.problem}`),
        ...input.damaged.filter((d) => d.source === name).map((d) => `damaged backup ${d.id}: ${d.message}`),
        ...input.problems.filter((p) => (conf?.targets ?? []).includes(p.repository)).map((p) => `${p.repository}: ${p.message}`),
        ...(own.length === 0 ? ['no backup yet'] : []),
      ],
    };
  });
}

function running(schedules: SchedulerStatus['schedules']): Pick<SourceOverview, 'running'> {
  const s = schedules.find((x) => x.running);
  return s?.running ? { running: { schedule: s.name, since: s.running.since.toISOString() } } : {};
}

/** Per repository: bytes stored over time (cumulative, by finish time), for the growth chart. */
export function storageGrowth(backups: CatalogBackup[]): { repository: string; points: { at: string; bytes: number }[] }[] {
  const repos = [...new Set(backups.map((b) => b.repository))].sort();
  return repos.map((repository) => {
    let total = 0;
    const points = backups
      .filter((b) => b.repository === repository)
      .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt))
      .map((b) => ({ at: b.finishedAt, bytes: (total += b.storedSize) }));
    return { repository, points };
  });
}
