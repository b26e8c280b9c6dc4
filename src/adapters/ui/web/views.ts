import { get } from './api.js';
import { runAction } from './actions.js';
import { durationChart, sizeChart } from './charts.js';
import { button, bytes, duration, h, table, when } from './dom.js';
// The server's answer types (type-only: nothing of the server is bundled).
import type { SourceOverview } from '../wire.js';

interface Backup {
  id: string;
  repository: string;
  source: string;
  kind: string;
  parent: string | null;
  finishedAt: string;
  storedSize: number;
  rawSize: number;
  durationMs: number;
  status: string;
}

const link = (href: string, text: string) => h('a', { href }, text);
const backupHref = (id: string, repository: string) => `#/backup/${encodeURIComponent(id)}?repository=${encodeURIComponent(repository)}`;

function windowsText(s: SourceOverview): string {
  const all = s.windows.flatMap((w) => w.windows.map((x) => (x.from === x.to ? x.to : `${x.from} … ${x.to}`)));
  if (all.length === 0) return s.backups ? 'none' : '-';
  return all.length > 3 ? `${all.slice(-3).join('; ')} (+${all.length - 3} older)` : all.join('; ');
}

export async function overviewView(): Promise<HTMLElement> {
  const { sources } = await get<{ sources: SourceOverview[] }>('/overview');
  const rows = sources.map((s) => [
    link(`#/source/${encodeURIComponent(s.name)}`, s.name),
    s.engine,
    s.lastSuccess ? link(backupHref(s.lastSuccess.id, s.lastSuccess.repository), s.lastSuccess.id) : 'never',
    s.ageMs === undefined ? '-' : duration(s.ageMs),
    s.running ? h('span', { class: 'running', 'data-running': s.name }, `running now (${s.running.schedule}, since ${when(s.running.since)})`) : when(s.nextRun),
    windowsText(s),
    h(
      'span',
      { class: s.failures.length ? 'bad' : s.warnings.length ? 'warn' : 'ok' },
      [...s.failures.map((f) => `${f.schedule}: ${f.count} failure(s)${f.code ? ` ${f.code}: ${f.message ?? ''}` : ''}`), ...s.warnings].join('\n') || 'ok',
    ),
    s.configured ? button('Backup now', () => void runAction(`Run a backup of ${s.name} now (to ${s.targets.join(', ') || 'its targets'})?`, '/actions/backup', { source: s.name }), { 'data-backup': s.name }) : '',
  ]);
  const list = table(['source', 'engine', 'last success', 'age', 'next run', 'restorable windows', 'failures / warnings', ''], rows);
  list.classList.add('sources');
  return h(
    'section',
    { id: 'overview' },
    h('h1', {}, 'Sources'),
    // Windows and damaged manifests come from reading every repository, done once and after each action.
    h('p', {}, button('Rescan repositories', () => void get('/overview?rescan=1').then(() => window.dispatchEvent(new HashChangeEvent('hashchange'))))),
    sources.length ? list : h('p', {}, 'No sources in the config and no backups in the catalog.'),
  );
}

interface FailedRun {
  id: number;
  schedule: string;
  startedAt: string;
  durationMs?: number;
  outcome: string;
  errorCode?: string;
  errorMessage?: string;
  note?: string;
}

function backupActions(b: Backup): HTMLElement {
  return h(
    'span',
    {},
    button('Verify', () => void runAction(`Verify backup ${b.id} (reads every part)?`, '/actions/verify', { id: b.id, repository: b.repository })),
    ' ',
    button('Pin', () => void runAction(`Pin backup ${b.id} so that prune keeps it?`, '/actions/pin', { id: b.id, pinned: true })),
    ' ',
    button('Unpin', () => void runAction(`Unpin backup ${b.id}?`, '/actions/pin', { id: b.id, pinned: false })),
  );
}

export async function sourceView(name: string): Promise<HTMLElement> {
  const { backups, failed } = await get<{ backups: Backup[]; failed: FailedRun[] }>(`/sources/${encodeURIComponent(name)}/backups`);
  const sorted = [...backups].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
  const entries = [
    ...sorted.map((b) => ({ at: b.finishedAt, row: [link(backupHref(b.id, b.repository), b.id), b.kind, when(b.finishedAt), bytes(b.storedSize), duration(b.durationMs), h('span', { class: b.status }, b.status), b.repository, backupActions(b)] })),
    ...failed.map((r) => ({
      at: r.startedAt,
      row: [`run ${r.id} of ${r.schedule}`, '-', when(r.startedAt), '-', duration(r.durationMs), h('span', { class: r.outcome === 'partial' ? 'warn' : 'failure' }, r.outcome), r.errorCode ? `${r.errorCode}: ${r.errorMessage ?? ''}` : (r.note ?? ''), ''],
    })),
  ].sort((a, b) => b.at.localeCompare(a.at));
  const rows = entries.map((e) => e.row);
  const timeline = table(['backup', 'kind', 'finished', 'size', 'took', 'outcome', 'repository / error', ''], rows, [3, 4]);
  timeline.classList.add('timeline');
  return h(
    'section',
    { id: 'source', 'data-source': name },
    h('h1', {}, `Source ${name}`),
    h('div', { class: 'charts' }, sizeChart(sorted.map((b) => ({ at: b.finishedAt, value: b.storedSize }))), durationChart(sorted.map((b) => ({ at: b.finishedAt, value: b.durationMs })))),
    h('h2', {}, `Timeline (${backups.length} backups${failed.length ? `, ${failed.length} runs without one` : ''})`),
    timeline,
  );
}
