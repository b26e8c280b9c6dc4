import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './cli.js';

export interface UiProcess {
  /** The URL it printed (with the token, unless a password signs in). */
  url: string;
  origin: string;
  child: ChildProcessWithoutNullStreams;
  /** Everything it wrote on stderr so far (its request log). */
  stderr(): string;
  /** SIGINT, then its exit code. */
  stop(): Promise<number>;
}

/** Starts the built `dbbackup ui --json …` and resolves once it has printed its URL (or rejects with its output when it exits first). */
export function startUi(args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): Promise<UiProcess> {
  const child = spawn(process.execPath, [BIN, 'ui', '--json', ...args], {
    cwd: options.cwd,
    env: { ...process.env, XDG_STATE_HOME: join(tmpdir(), `dbb-test-state-${process.pid}`), ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (!line || !stdout.includes('\n')) return;
      const url = (JSON.parse(line) as { url: string }).url;
      resolve({
        url,
        origin: new URL(url).origin,
        child,
        stderr: () => stderr,
        stop: () => {
          child.kill('SIGINT');
          return exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`dbbackup ui exited ${code} before printing its URL:\n${stdout}\n${stderr}`)));
  });
}

/** Signs in with the printed URL's token; returns the session cookie (`name=value`). */
export async function signIn(url: string, init: RequestInit = {}): Promise<string> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const cookie = res.headers.get('set-cookie');
  if (res.status !== 303 || !cookie) throw new Error(`sign-in answered ${res.status}`);
  return cookie.split(';')[0]!;
}
