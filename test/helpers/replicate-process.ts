import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'vitest';
import { BIN } from './cli.js';

/** A `dbbackup replicate --json` child process and the events it printed (one JSON line each). */
export interface Replicator {
  child: ChildProcess;
  events: Record<string, unknown>[];
  stderr: () => string;
  /** Everything printed on stdout so far (the events, then the closing summary or error as JSON). */
  stdout: () => string;
  exited: Promise<number>;
  /** Resolves with the first event (already seen or to come) that `match` accepts; rejects if the process exits first. */
  waitFor(match: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Commits reported shipped so far (the sum of the `segment` events' commits). */
  shipped(): number;
}

/**
 * Starts the built CLI's `replicate` with `args` (engine and source flags, `--out`, extras) plus
 * `--json`, in `cwd` with `env` over this process's environment; the child is pushed to `children`
 * so the test file's afterEach can kill what is left.
 */
export function startReplicate(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; children: ChildProcess[] }): Replicator {
  const child = spawn(process.execPath, [BIN, 'replicate', ...args, '--json'], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  opts.children.push(child);
  const events: Record<string, unknown>[] = [];
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    stdout += d.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (!line.startsWith('{"event"')) continue; // the closing summary (pretty-printed JSON)
      const e = JSON.parse(line) as Record<string, unknown>;
      events.push(e);
      for (const w of [...waiters]) if (w.match(e)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(e);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : -1))));
  return {
    child,
    events,
    stderr: () => stderr,
    stdout: () => stdout,
    exited,
    shipped: () => events.filter((e) => e.event === 'segment').reduce((n, e) => n + Number(e.commits), 0),
    waitFor: (match) => {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then((code) => reject(new Error(`replicate exited (${code}) before the awaited event: ${stderr}`)));
      });
    },
  };
}

/** Stops replicate as Ctrl-C would (SIGTERM): it ships what is waiting and exits 0. */
export async function stopReplicate(r: Replicator): Promise<void> {
  r.child.kill('SIGTERM');
  expect(await r.exited, r.stderr()).toBe(0);
}
