import 'uplot/dist/uPlot.min.css';
import './app.css';
import { type Job, liveEvents, post, startSession } from './api.js';
import { showJob } from './actions.js';
import { h } from './dom.js';
import { backupView, schedulesView, storageView } from './detail-views.js';
import { overviewView, sourceView } from './views.js';

/** The view the address names: #/, #/source/NAME, #/backup/ID?repository=R, #/storage, #/schedules. */
function route(): Promise<HTMLElement> {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const parts = (path || '/').split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query ?? '');
  if (parts[0] === 'source' && parts[1]) return sourceView(parts[1]);
  if (parts[0] === 'backup' && parts[1]) return backupView(parts[1], params.get('repository') ?? undefined);
  if (parts[0] === 'storage') return storageView();
  if (parts[0] === 'schedules') return schedulesView();
  return overviewView();
}

let rendering = 0;
async function render(): Promise<void> {
  const turn = ++rendering;
  const view = document.getElementById('view')!;
  try {
    const content = await route();
    if (turn === rendering) view.replaceChildren(content);
  } catch (err) {
    if (turn === rendering) view.replaceChildren(h('p', { class: 'error', role: 'alert' }, (err as Error).message));
  }
}

function onJob(job: Job): void {
  showJob(job);
  const live = document.getElementById('live')!;
  if (job.state !== 'running') {
    live.textContent = `${job.action} ${job.subject}: ${job.state}${job.summary ? ` — ${job.summary.split('\n')[0]}` : ''}`;
    live.dataset.state = job.state;
    const dry = document.getElementById('dry-run');
    if (dry && job.action === 'restore-dry-run') {
      dry.hidden = false;
      dry.textContent = job.summary ?? '';
    }
    // What the action changed (a new backup, a pin) shows in the view at once.
    if (job.action !== 'restore-dry-run') void render();
  } else {
    live.hidden = false;
    live.dataset.state = 'running';
    live.textContent = `${job.action} ${job.subject}: running…`;
  }
}

/** A scheduler daemon's run: its line in the source's row; its end (a new backup, a failure) re-reads the view. */
function daemonProgress(source: string | undefined, line: string, done: boolean): void {
  if (done) return void render();
  const cell = [...document.querySelectorAll<HTMLElement>('[data-running]')].find((e) => e.dataset.running === source);
  if (cell) cell.textContent = line;
}

async function start(): Promise<void> {
  const session = await startSession();
  document.getElementById('version')!.textContent = `v${session.version}`;
  document.getElementById('logout')!.addEventListener('click', () => void post('/logout', {}).finally(() => location.assign('/')));
  liveEvents({
    hello: (jobs) => {
      [...jobs].reverse().forEach(showJob);
      // The event stream is open: what runs from now on shows live (tests wait for this too).
      document.body.dataset.live = 'open';
    },
    job: onJob,
    progress: (p) => {
      const live = document.getElementById('live')!;
      live.hidden = false;
      live.dataset.state = p.done ? 'stopped' : 'running';
      const bar = p.total ? h('progress', { max: String(p.total), value: String(Math.min(p.bytes, p.total)) }) : null;
      const line = p.run ? `schedule ${p.schedule ?? '?'}: ${p.line}${p.done ? ' (finished)' : ''}` : p.line;
      live.replaceChildren(...(bar ? [bar, ' '] : []), line);
      if (p.run) daemonProgress(p.source, line, p.done);
    },
  });
  window.addEventListener('hashchange', () => void render());
  // Runs of the scheduler daemon (another process) and ages change without an event here: the overview re-reads itself.
  setInterval(() => {
    if (document.visibilityState === 'visible' && (location.hash === '' || location.hash === '#/')) void render();
  }, 30_000);
  await render();
}

void start();
