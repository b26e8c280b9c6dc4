import { type Job, post } from './api.js';
import { h } from './dom.js';

/** Asks in the page (a modal dialog) before anything runs; resolves true on Confirm. */
export function confirmAction(text: string): Promise<boolean> {
  const dialog = document.getElementById('confirm') as HTMLDialogElement;
  document.getElementById('confirm-text')!.textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

/** Confirms, then posts the action; the job's progress and end arrive as live events. */
export async function runAction(text: string, path: string, body: unknown): Promise<Job | undefined> {
  if (!(await confirmAction(text))) return undefined;
  try {
    return (await post<{ job: Job }>(path, body)).job;
  } catch (err) {
    showJob({ id: 0, action: path.split('/').pop()!, subject: '', state: 'failed', startedAt: new Date().toISOString(), summary: (err as Error).message });
    return undefined;
  }
}

/** Adds or updates a job in the side panel. */
export function showJob(job: Job): void {
  const list = document.getElementById('job-list')!;
  const id = `job-${job.id}`;
  const item = h(
    'li',
    { id, class: job.state, 'data-state': job.state, 'data-action': job.action },
    h('strong', {}, `${job.action} ${job.subject}`),
    ` — ${job.state}`,
    // A dry run's whole output goes to the backup's page; the panel keeps its first line.
    job.summary ? h('div', {}, job.action === 'restore-dry-run' ? job.summary.split('\n')[0]! : job.summary) : null,
  );
  const old = job.id ? document.getElementById(id) : null;
  if (old) old.replaceWith(item);
  else list.prepend(item);
}
