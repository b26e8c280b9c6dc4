import { Hono } from 'hono';
import type { ListBackupsResult } from '../../application/use-cases/list-backups.js';
import { DbBackupError } from '../../domain/errors.js';
import { redact } from '../../infrastructure/redact.js';
import type { DashboardDeps, UiEnv } from './dashboard-deps.js';
import type { DashboardJobs } from './jobs.js';
import { sourcesOverview, storageGrowth } from './overview.js';
import { runLogLines } from './run-log.js';

/** A JSON answer with every string redacted once more (as the CLI's `--json` output is). */
export function safeJson(value: unknown): string {
  return redact(JSON.stringify(value));
}

const json = (body: unknown) => new Response(safeJson(body), { headers: { 'content-type': 'application/json; charset=utf-8' } });

/** An id or name from a URL: bounded and plain, or E_USAGE. */
export function plainName(value: string | undefined, what: string): string {
  if (!value || value.length > 200 || !/^[\w.:@+-]+$/.test(value)) throw new DbBackupError('E_USAGE', `Give a valid ${what}.`);
  return value;
}

/** A shell word: quoted unless it is plainly safe. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The read-only views: overview, a source's backups, storage, schedules and runs, a manifest, the restore command. */
export function apiRoutes(deps: DashboardDeps, jobs: DashboardJobs): Hono<UiEnv> {
  const api = new Hono<UiEnv>();
  const uc = deps.useCases;
  // Windows need every manifest (list --refresh --windows): read once, again after an action or on request.
  let scan: Promise<ListBackupsResult> | undefined;
  const rescan = (force: boolean) => {
    if (force || !scan) scan = uc.listBackups.execute({ refresh: true, windows: true }, AbortSignal.timeout(120_000)).catch((err: unknown) => ((scan = undefined), Promise.reject(err)));
    return scan;
  };
  jobs.onFinished = () => {
    scan = undefined;
  };

  api.get('/session', (c) => json({ ok: true, csrf: c.get('session').csrf, version: deps.version, sources: deps.sources }));
  api.get('/overview', async (c) => {
    const scanned = await rescan(c.req.query('rescan') === '1');
    const [list, status] = await Promise.all([uc.listBackups.execute({}, c.req.raw.signal), uc.manageSchedules.status()]);
    const now = new Date();
    const sources = sourcesOverview({ configured: deps.sources, backups: list.backups, status, windows: scanned.windows ?? [], problems: scanned.problems, damaged: scanned.damaged, now });
    return json({ ok: true, at: now.toISOString(), sources, running: jobs.list().find((j) => j.state === 'running') });
  });
  api.get('/sources/:name/backups', async (c) => {
    const source = plainName(c.req.param('name'), 'source name');
    const [{ backups }, runs] = await Promise.all([uc.listBackups.execute({ source }, c.req.raw.signal), uc.manageSchedules.history(undefined, 500)]);
    // The catalog holds complete backups only: the scheduled runs that made none fill in the timeline's failures.
    const failed = runs.filter((r) => r.source === source && r.task === 'backup' && r.outcome !== 'success' && r.outcome !== 'running');
    return json({ ok: true, source, backups, failed });
  });
  api.get('/storage', async (c) => {
    const [usage, list] = await Promise.all([uc.storageUsage.execute({}), uc.listBackups.execute({}, c.req.raw.signal)]);
    return json({ ok: true, usage, growth: storageGrowth(list.backups) });
  });
  api.get('/schedules', async () => {
    const [status, runs] = await Promise.all([uc.manageSchedules.status(), uc.manageSchedules.history(undefined, 50)]);
    return json({ ok: true, schedules: status.schedules, daemons: status.daemons, problems: status.problems, runs });
  });
  api.get('/runs/:id/log', async (c) => {
    const id = Number(c.req.param('id'));
    const run = (await uc.manageSchedules.history(undefined, 500)).find((r) => r.id === id);
    if (!run) throw new DbBackupError('E_NOT_FOUND', `No run ${c.req.param('id')} among the last 500.`);
    return json({ ok: true, run, lines: await runLogLines(deps.logFile, run) });
  });
  api.get('/manifest', async (c) => {
    const r = await uc.showManifest.execute({ id: plainName(c.req.query('id'), 'backup id'), repository: c.req.query('repository') });
    // A wrapped data key is no secret in the clear, but a passphrase-wrapped one can be attacked offline: it stays on the server.
    const encryption = r.manifest.encryption ? { cipher: r.manifest.encryption.cipher, keyId: r.manifest.encryption.keyId, scheme: r.manifest.encryption.wrapped.scheme } : null;
    return json({ ok: true, ...r, manifest: { ...r.manifest, encryption }, restore: restoreCommand(deps, r.repository, r.manifest.source, r.manifest.id) });
  });
  api.get('/jobs', () => json({ ok: true, jobs: jobs.list() }));
  return api;
}

/** `dbbackup restore …` for one backup, as the user would type it (this dashboard's config and catalog). */
export function restoreCommand(deps: DashboardDeps, repository: string, source: string, id: string): { args: string[]; text: string; note: string } {
  const args = ['restore', '--from', repository, '--backup', id, '--source', source, ...deps.cliGlobals];
  const configured = deps.sources.some((s) => s.name === source);
  return {
    args,
    text: ['dbbackup', ...args].map(shellWord).join(' '),
    note: configured
      ? `Restores into source ${source}'s own database (from the config); add --db/--url/--database to restore elsewhere, and --clean to replace what is there.`
      : `Source ${source} is not in the config: add the target, e.g. --db sqlite --database restored.db.`,
  };
}
