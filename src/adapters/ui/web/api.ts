/** The dashboard's API, as the page calls it: same origin, the session cookie, the CSRF token on POSTs. */
let csrf = '';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { ok?: boolean; error?: { code: string; message: string } };
  if (!res.ok || body.ok === false) {
    if (res.status === 401) location.assign('/');
    throw new ApiError(body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? res.statusText, res.status);
  }
  return body as T;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`/api${path}`, { credentials: 'same-origin' }));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(`/api${path}`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body),
    }),
  );
}

export interface Session {
  csrf: string;
  version: string;
  sources: { name: string; engine: string; targets: string[] }[];
}

export async function startSession(): Promise<Session> {
  const s = await get<Session>('/session');
  csrf = s.csrf;
  return s;
}

export interface Job {
  id: number;
  action: string;
  subject: string;
  state: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt?: string;
  summary?: string;
}

export interface Progress {
  job?: number;
  /** Set for a scheduler daemon's run (another process), with its schedule and source. */
  run?: string;
  schedule?: string;
  source?: string;
  line: string;
  bytes: number;
  total?: number;
  done: boolean;
}

/** Server-sent events: jobs and progress lines; EventSource reconnects by itself. */
export function liveEvents(handlers: { job(j: Job): void; progress(p: Progress): void; hello(jobs: Job[]): void }): EventSource {
  const source = new EventSource('/api/events');
  source.addEventListener('hello', (e) => handlers.hello((JSON.parse((e as MessageEvent<string>).data) as { jobs: Job[] }).jobs));
  source.addEventListener('job', (e) => handlers.job((JSON.parse((e as MessageEvent<string>).data) as { job: Job }).job));
  source.addEventListener('progress', (e) => handlers.progress(JSON.parse((e as MessageEvent<string>).data) as Progress));
  return source;
}
