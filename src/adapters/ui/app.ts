import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { isDbBackupError } from '../../domain/errors.js';
import { redact } from '../../infrastructure/redact.js';
import { actionRoutes } from './action-routes.js';
import { apiRoutes } from './api-routes.js';
import { type DashboardAssets, loginPage } from './assets.js';
import type { DashboardDeps, UiEnv } from './dashboard-deps.js';
import { DashboardJobs } from './jobs.js';
import { SESSION_COOKIE, type SessionGate } from './security.js';

export interface DashboardApp {
  fetch: Hono<UiEnv>['fetch'];
  jobs: DashboardJobs;
}

const HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // The first URL carries the token: no page may learn it from a Referer.
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The dashboard's HTTP surface. Every request is logged (method, path without its query — the
 * token travels in the query once —, status, time). Hosts other than the dashboard's own are
 * refused on loopback (DNS rebinding). `/api/*` needs a session (401 otherwise); POSTs under
 * `/api/actions/` need the session's CSRF token in a header and a same-origin Origin.
 */
export function dashboardApp(options: {
  deps: DashboardDeps;
  gate: SessionGate;
  assets: DashboardAssets;
  secure: boolean;
  /** False for a Host header this server must not answer (loopback: only its own address). */
  hostAllowed: (host: string) => boolean;
  signal: AbortSignal;
}): DashboardApp {
  const { deps, gate, assets, secure } = options;
  const log = deps.logger;
  const jobs = new DashboardJobs(deps, options.signal);
  const app = new Hono<UiEnv>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    if (!options.hostAllowed(c.req.header('host') ?? '')) {
      c.res = c.text('Unknown Host header: open the URL dbbackup ui printed.', 421);
    } else {
      await next();
    }
    for (const [k, v] of Object.entries(HEADERS)) c.res.headers.set(k, v);
    log.info('request', { method: c.req.method, path: redact(c.req.path), status: c.res.status, ms: Math.round(performance.now() - started) });
  });
  app.onError((err, c) => errorResponse(c, err, log));
  // Sign-in forms and actions are a few bytes: nothing larger is read into memory.
  app.use('*', bodyLimit({ maxSize: 64 << 10, onError: (c) => c.text('Request body too large.', 413) }));

  app.route('/', signInRoutes(gate, assets, secure));

  app.use('/api/*', async (c, next) => {
    const session = gate.session(getCookie(c, SESSION_COOKIE));
    if (!session) return c.json({ ok: false, error: { code: 'E_AUTH', message: 'Not signed in: open the URL dbbackup ui printed.' } }, 401);
    c.set('session', session);
    await next();
  });
  app.post('/api/logout', (c) => {
    gate.logout(c.get('session').id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.json({ ok: true });
  });
  app.route('/api', apiRoutes(deps, jobs));
  app.route('/api', actionRoutes(deps, jobs));
  app.notFound((c) => c.json({ ok: false, error: { code: 'E_NOT_FOUND', message: `No such page: ${c.req.path}` } }, 404));
  return { fetch: app.fetch, jobs };
}

/** The page, its sign-in (token in the URL, or the form: token or password) and its static files. */
function signInRoutes(gate: SessionGate, assets: DashboardAssets, secure: boolean): Hono<UiEnv> {
  const routes = new Hono<UiEnv>();
  const startSession = (c: Context, session: { id: string }) => {
    setCookie(c, SESSION_COOKIE, session.id, { httpOnly: true, sameSite: 'Strict', secure, path: '/' });
    // The token leaves the address bar (and the history) at once.
    return c.redirect('/', 303);
  };
  routes.get('/', async (c) => {
    if (gate.session(getCookie(c, SESSION_COOKIE))) return c.html(assets.get('index.html')!.body);
    const token = c.req.query('token');
    if (token === undefined) return c.html(loginPage({ password: gate.usesPassword }), 401);
    const session = await gate.login({ token });
    if (!session) return c.html(loginPage({ password: gate.usesPassword, message: 'That token is not valid (or too many tries: wait a minute).' }), 401);
    return startSession(c, session);
  });
  routes.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const field = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : undefined);
    const session = await gate.login({ token: field('token'), password: field('password') });
    if (!session) return c.html(loginPage({ password: gate.usesPassword, message: 'Wrong password or token (or too many tries: wait a minute).' }), 401);
    return startSession(c, session);
  });
  routes.get('/assets/:name', (c) => {
    const file = assets.get(c.req.param('name'));
    return file ? c.body(file.body, 200, { 'content-type': file.type }) : c.text('Not found', 404);
  });
  return routes;
}

/** An error as JSON the page shows: its code and (redacted) message; 4xx for the user's mistakes. */
export function errorResponse(c: Context, err: unknown, log: DashboardDeps['logger']): Response {
  const code = isDbBackupError(err) ? err.code : 'E_INTERNAL';
  const message = redact(isDbBackupError(err) ? err.message : 'Unexpected error; see the dashboard log.');
  if (!isDbBackupError(err)) log.error('request failed', { path: c.req.path, error: redact((err as Error)?.message ?? String(err)) });
  const status = code === 'E_USAGE' ? 400 : code === 'E_BACKUP_NOT_FOUND' || code === 'E_NOT_FOUND' ? 404 : code === 'E_BUSY' ? 409 : 500;
  return c.json({ ok: false, error: { code, message } }, status);
}
