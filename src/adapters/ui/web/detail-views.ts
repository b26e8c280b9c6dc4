import { get } from './api.js';
import { runAction } from './actions.js';
import { sizeChart } from './charts.js';
import { button, bytes, duration, h, table, when } from './dom.js';

interface ManifestAnswer {
  repository: string;
  pin?: { pinnedAt: string; note?: string };
  restore: { text: string; note: string };
  manifest: {
    id: string;
    source: string;
    engine: string;
    kind: string;
    parent: string | null;
    startedAt: string;
    finishedAt: string;
    consistentAt: string;
    toolVersion: string;
    objects: { name: string; type: string; rows?: number; rawBytes?: number }[];
    parts: { name: string; role: string; object?: string; codecs: string[]; rawSize: number; storedSize: number; sha256: string }[];
    targets?: { location: string; ok: boolean; error?: string }[];
    warnings: string[];
    encryption: { cipher: string; scheme: string } | null;
  };
}

export async function backupView(id: string, repository: string | undefined): Promise<HTMLElement> {
  const r = await get<ManifestAnswer>(`/manifest?id=${encodeURIComponent(id)}${repository ? `&repository=${encodeURIComponent(repository)}` : ''}`);
  const m = r.manifest;
  const dryRun = h('pre', { id: 'dry-run', hidden: '' });
  const facts: [string, string][] = [
    ['source', m.source],
    ['engine', m.engine],
    ['kind', `${m.kind}${m.parent ? ` of ${m.parent}` : ''}`],
    ['consistent at', when(m.consistentAt)],
    ['took', duration(Date.parse(m.finishedAt) - Date.parse(m.startedAt))],
    ['repository', r.repository],
    ['encryption', m.encryption ? `${m.encryption.cipher} (${m.encryption.scheme})` : 'none'],
    ['pinned', r.pin ? `since ${when(r.pin.pinnedAt)}${r.pin.note ? ` — ${r.pin.note}` : ''}` : 'no'],
    ['tool version', m.toolVersion],
  ];
  return h(
    'section',
    { id: 'manifest', 'data-backup': m.id },
    h('h1', {}, `Backup ${m.id}`),
    table(['', ''], facts.map(([k, v]) => [k, v])),
    h(
      'p',
      {},
      button('Verify', () => void runAction(`Verify backup ${m.id}?`, '/actions/verify', { id: m.id, repository: r.repository })),
      ' ',
      button(r.pin ? 'Unpin' : 'Pin', () => void runAction(`${r.pin ? 'Unpin' : 'Pin'} backup ${m.id}?`, '/actions/pin', { id: m.id, pinned: !r.pin })),
    ),
    h('h2', {}, 'Restore (in the CLI)'),
    h('pre', { id: 'restore-command' }, r.restore.text),
    h('p', {}, r.restore.note, ' ', button('Show --dry-run output', () => void runAction(`Run "${r.restore.text} --dry-run"? It reads the backup and connects to the target, and changes nothing.`, '/actions/restore-dry-run', { id: m.id, repository: r.repository }))),
    dryRun,
    m.warnings.length ? h('div', { class: 'warn' }, h('h2', {}, 'Warnings'), h('ul', {}, ...m.warnings.map((w) => h('li', {}, w)))) : null,
    h('h2', {}, `Objects (${m.objects.length})`),
    table(['object', 'type', 'rows', 'size'], m.objects.map((o) => [o.name, o.type, o.rows ?? '', o.rawBytes === undefined ? '' : bytes(o.rawBytes)]), [2, 3]),
    h('h2', {}, `Parts (${m.parts.length})`),
    table(['part', 'role', 'codecs', 'raw', 'stored', 'sha256'], m.parts.map((p) => [p.name, p.role, p.codecs.join(' → ') || 'none', bytes(p.rawSize), bytes(p.storedSize), h('code', {}, p.sha256)]), [3, 4]),
    m.targets ? h('div', {}, h('h2', {}, 'Targets'), table(['target', 'outcome'], m.targets.map((t) => [t.location, t.ok ? 'complete' : `failed: ${t.error ?? ''}`]))) : null,
  );
}

interface StorageAnswer {
  usage: { groups: { repository: string; source: string; kind: string; backups: number; objects: number; bytes: number }[]; totalBytes: number; growth: { last7Days: number; last30Days: number } };
  growth: { repository: string; points: { at: string; bytes: number }[] }[];
}

export async function storageView(): Promise<HTMLElement> {
  const r = await get<StorageAnswer>('/storage');
  const perRepo = r.growth.map((g) => {
    const groups = r.usage.groups.filter((x) => x.repository === g.repository);
    return [g.repository, groups.reduce((n, x) => n + x.backups, 0), groups.reduce((n, x) => n + x.objects, 0), bytes(g.points.at(-1)?.bytes ?? 0)];
  });
  return h(
    'section',
    { id: 'storage' },
    h('h1', {}, 'Storage'),
    h('p', {}, `Total ${bytes(r.usage.totalBytes)}; growth ${bytes(r.usage.growth.last7Days)} in the last 7 days, ${bytes(r.usage.growth.last30Days)} in the last 30.`),
    table(['target', 'backups', 'objects', 'stored'], perRepo, [1, 2, 3]),
    h('div', { class: 'charts' }, ...r.growth.map((g) => sizeChart(g.points.map((p) => ({ at: p.at, value: p.bytes })), `Stored in ${g.repository}`))),
    h('h2', {}, 'By source and kind'),
    table(['source', 'kind', 'backups', 'objects', 'size', 'target'], r.usage.groups.map((g) => [g.source, g.kind, g.backups, g.objects, bytes(g.bytes), g.repository]), [2, 3, 4]),
  );
}

interface Run {
  id: number;
  schedule: string;
  trigger: string;
  startedAt: string;
  durationMs?: number;
  outcome: string;
  backupId?: string;
  errorCode?: string;
  errorMessage?: string;
  note?: string;
}

interface SchedulesAnswer {
  schedules: { name: string; cron: string; timezone: string; task: string; source: string; enabled: boolean; nextRun?: string; lastSuccessAt?: string; lastOutcome?: string; consecutiveFailures: number }[];
  daemons: { owner: string; host: string; pid: number; heartbeatAt: string }[];
  problems: { name: string; problem: string }[];
  runs: Run[];
}

export async function schedulesView(): Promise<HTMLElement> {
  const r = await get<SchedulesAnswer>('/schedules');
  const log = h('pre', { id: 'run-log', hidden: '' });
  const showLog = async (run: Run) => {
    const answer = await get<{ lines: string[] }>(`/runs/${run.id}/log`);
    log.hidden = false;
    log.textContent = answer.lines.length ? answer.lines.join('\n') : `No log lines of run ${run.id} in the log file's tail.`;
  };
  return h(
    'section',
    { id: 'schedules' },
    h('h1', {}, 'Schedules'),
    h('p', {}, r.daemons.length ? r.daemons.map((d) => `daemon ${d.owner} (pid ${d.pid} on ${d.host}), last heartbeat ${when(d.heartbeatAt)}`).join('; ') : 'No scheduler daemon is running on this catalog.'),
    ...r.problems.map((p) => h('p', { class: 'warn' }, `schedule ${p.name} will not run: ${p.problem}`)),
    table(['schedule', 'task', 'cron', 'state', 'last success', 'last outcome', 'failures', 'next run'], r.schedules.map((s) => [s.name, `${s.task} ${s.source}`, `${s.cron} (${s.timezone})`, s.enabled ? 'enabled' : 'disabled', when(s.lastSuccessAt), s.lastOutcome ?? '-', s.consecutiveFailures, when(s.nextRun)])),
    h('h2', {}, 'Last runs'),
    r.runs.length === 0 ? h('p', {}, 'No runs yet.') : null,
    table(['run', 'schedule', 'trigger', 'started', 'took', 'outcome', 'backup / error', ''], r.runs.map((x) => [x.id, x.schedule, x.trigger, when(x.startedAt), duration(x.durationMs), h('span', { class: x.outcome }, x.outcome), x.backupId ?? (x.errorCode ? `${x.errorCode}: ${x.errorMessage ?? ''}` : (x.note ?? '')), button('Log', () => void showLog(x))])),
    log,
  );
}
