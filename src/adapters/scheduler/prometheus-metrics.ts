import type { SourceSlots } from '../../application/use-cases/manage-capture-slots.js';
import type { SchedulerStatus } from '../../application/use-cases/manage-schedules.js';

/**
 * The scheduler's state in the Prometheus text exposition format (version 0.0.4), for the
 * node_exporter textfile collector or any scraper: per schedule (labels schedule, task,
 * source) the last success time, last run duration, last backup size, consecutive failures,
 * next run, and run counts by outcome; per capture slot (labels source, slot) the WAL it retains,
 * what the server allows before invalidating it, whether it was lost, and the warning threshold.
 */
export function renderMetrics(status: SchedulerStatus, slots: readonly SourceSlots[] = []): string {
  const out: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', rows: [Record<string, string>, number | undefined][]) => {
    const present = rows.filter((r): r is [Record<string, string>, number] => r[1] !== undefined && Number.isFinite(r[1]));
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of present) out.push(`${name}${formatLabels(labels)} ${value}`);
  };
  const s = status.schedules;
  const labels = (v: (typeof s)[number]) => ({ schedule: v.name, task: v.task, source: v.source });
  const seconds = (d: Date | undefined) => (d ? d.getTime() / 1000 : undefined);
  metric('dbbackup_schedule_last_success_timestamp_seconds', 'Unix time the last successful run finished.', 'gauge', s.map((v) => [labels(v), seconds(v.lastSuccessAt)]));
  metric('dbbackup_schedule_last_run_duration_seconds', 'Duration of the last finished run.', 'gauge', s.map((v) => [labels(v), v.lastRun?.durationMs === undefined ? undefined : v.lastRun.durationMs / 1000]));
  metric('dbbackup_schedule_last_backup_size_bytes', 'Stored size of the backup of the last successful run.', 'gauge', s.map((v) => [labels(v), v.lastSuccess?.storedSize]));
  metric('dbbackup_schedule_consecutive_failures', 'Failed runs since the last success.', 'gauge', s.map((v) => [labels(v), v.consecutiveFailures]));
  metric('dbbackup_schedule_next_run_timestamp_seconds', 'Unix time of the next scheduled run.', 'gauge', s.map((v) => [labels(v), seconds(v.nextRun)]));
  metric('dbbackup_schedule_enabled', '1 when the schedule is enabled.', 'gauge', s.map((v) => [labels(v), v.enabled ? 1 : 0]));
  metric('dbbackup_schedule_running', '1 while a run holds the schedule\'s lock.', 'gauge', s.map((v) => [labels(v), v.running ? 1 : 0]));
  metric('dbbackup_schedule_runs_total', 'Recorded runs by outcome (skipped and missed included).', 'counter', status.counts.map((c) => [{ schedule: c.schedule, outcome: c.outcome }, c.count]));
  metric('dbbackup_scheduler_daemons', 'Scheduler daemons registered on this catalog.', 'gauge', [[{}, status.daemons.length]]);
  const each = slots.flatMap((r) => r.slots.map((slot) => ({ r, slot, labels: { source: r.source, slot: slot.name } })));
  metric('dbbackup_capture_slot_retained_bytes', 'WAL (log) the capture slot keeps on its server.', 'gauge', each.map((e) => [e.labels, e.slot.retainedBytes ?? undefined]));
  metric('dbbackup_capture_slot_safe_bytes', 'Log that may still be written before the server invalidates the slot (absent: no limit).', 'gauge', each.map((e) => [e.labels, e.slot.safeBytes ?? undefined]));
  metric('dbbackup_capture_slot_lost', '1 when the server invalidated the slot (wal_status = lost): its chain has ended.', 'gauge', each.map((e) => [e.labels, e.slot.health === 'lost' ? 1 : 0]));
  metric('dbbackup_capture_slot_warn_bytes', 'The slot-warn-bytes threshold of the source.', 'gauge', slots.map((r) => [{ source: r.source }, r.warnBytes]));
  metric('dbbackup_capture_slot_check_ok', '0 when the source\'s server could not be asked about its slots.', 'gauge', slots.map((r) => [{ source: r.source }, r.problem ? 0 : 1]));
  return `${out.join('\n')}\n`;
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
