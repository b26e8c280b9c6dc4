import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { DbBackupError } from '../../domain/errors.js';
import { plainName, restoreCommand, safeJson } from './api-routes.js';
import type { DashboardDeps, UiEnv } from './dashboard-deps.js';
import type { DashboardJobs } from './jobs.js';
import type { LiveEvent } from './live-events.js';
import { CSRF_HEADER, sameSecret } from './security.js';

const MAX_BODY = 16 << 10;

/** The JSON body of an action: an object, at most 16 KiB. */
async function body(req: Request): Promise<Record<string, unknown>> {
  if (!(req.headers.get('content-type') ?? '').startsWith('application/json')) throw new DbBackupError('E_USAGE', 'Actions take a JSON body.');
  const text = await req.text();
  if (text.length > MAX_BODY) throw new DbBackupError('E_USAGE', 'The request body is too large.');
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new DbBackupError('E_USAGE', 'The request body is not a JSON object.');
}

const optionalString = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The actions (each POST needs the session's CSRF token in `x-csrf-token`, and an Origin, when
 * the browser sends one, equal to this server's) and the live event stream.
 */
export function actionRoutes(deps: DashboardDeps, jobs: DashboardJobs): Hono<UiEnv> {
  const api = new Hono<UiEnv>();

  api.use('/actions/*', async (c, next) => {
    const given = c.req.header(CSRF_HEADER) ?? '';
    const origin = c.req.header('origin');
    const own = new URL(c.req.url).origin;
    if (c.req.method !== 'POST' || !sameSecret(given, c.get('session').csrf) || (origin !== undefined && origin !== own)) {
      return c.json({ ok: false, error: { code: 'E_AUTH', message: 'Refused: the request did not come from the dashboard page (CSRF check).' } }, 403);
    }
    await next();
  });
  const accepted = (job: unknown) => new Response(safeJson({ ok: true, job }), { status: 202, headers: { 'content-type': 'application/json; charset=utf-8' } });

  api.post('/actions/backup', async (c) => {
    const b = await body(c.req.raw);
    return accepted(jobs.backup(plainName(optionalString(b.source), 'source name'), optionalString(b.kind)));
  });
  api.post('/actions/verify', async (c) => {
    const b = await body(c.req.raw);
    return accepted(jobs.verify(plainName(optionalString(b.id), 'backup id'), optionalString(b.repository)));
  });
  api.post('/actions/pin', async (c) => {
    const b = await body(c.req.raw);
    if (typeof b.pinned !== 'boolean') throw new DbBackupError('E_USAGE', 'Say pinned: true or false.');
    return accepted(jobs.pin(plainName(optionalString(b.id), 'backup id'), b.pinned));
  });
  api.post('/actions/restore-dry-run', async (c) => {
    const b = await body(c.req.raw);
    const id = plainName(optionalString(b.id), 'backup id');
    const shown = await deps.useCases.showManifest.execute({ id, repository: optionalString(b.repository) });
    return accepted(jobs.restoreDryRun(id, restoreCommand(deps, shown.repository, shown.manifest.source, id).args));
  });

  api.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      const queue: LiveEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = deps.events.subscribe((e) => {
        // A page that cannot keep up loses old progress lines, never job events.
        const old = queue.length > 200 ? queue.findIndex((q) => q.type === 'progress') : -1;
        if (old >= 0) queue.splice(old, 1);
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'hello', data: safeJson({ jobs: jobs.list().slice(0, 5) }) });
      while (!stream.aborted && !stream.closed) {
        const next = queue.shift();
        if (next) {
          await stream.writeSSE({ event: next.type, data: safeJson(next) });
          continue;
        }
        // A comment every 15 s keeps proxies from closing an idle stream.
        const idle = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), 15_000);
          wake = () => (clearTimeout(timer), resolve(false));
        });
        wake = undefined;
        if (idle && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      unsubscribe();
    }),
  );
  return api;
}
