import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN } from '../../helpers/cli.js';
import { Database } from '../../helpers/sqlite-fixtures.js';

export interface RunRow {
  id: number;
  schedule: string;
  slot: string | null;
  trigger: string;
  owner: string;
  started_at: string;
  finished_at: string | null;
  outcome: string;
  attempts: number;
  backup_id: string | null;
  error_code: string | null;
  note: string | null;
}

/** Reads the run history straight from the catalog file (read-only; the daemons keep writing). */
export function runs(dataDir: string): RunRow[] {
  const file = join(dataDir, 'catalog.db');
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'schedule_runs'").get();
    return hasTable ? (db.prepare('SELECT * FROM schedule_runs ORDER BY id').all() as RunRow[]) : [];
  } finally {
    db.close();
  }
}

/** Polls `check` until it returns something truthy; fails with `what` and the last history after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | false, dataDir?: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) {
      const history = dataDir ? `\nhistory:\n${runs(dataDir).map((r) => JSON.stringify(r)).join('\n')}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${history}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface Daemon {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Starts `dbbackup schedule run ARGS` (the built CLI) as a subprocess. */
export function startDaemon(args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): Daemon {
  const child = spawn(process.execPath, [BIN, 'schedule', 'run', ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : -2))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A throwaway setup: a SQLite source, a repository folder, and env pointing every path into `dir`. */
export async function sqliteSetup(dir: string, schedules: string, extra = ''): Promise<NodeJS.ProcessEnv> {
  const db = new Database(join(dir, 'app.db'));
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) insert.run(`row ${i} ${'x'.repeat(40)}`);
  })();
  db.close();
  await writeFile(
    join(dir, 'dbbackup.yaml'),
    `
sources:
  app: { engine: sqlite, database: ${join(dir, 'app.db')} }
  broken: { engine: sqlite, database: ${join(dir, 'missing', 'gone.db')} }
targets:
  local: { url: ${join(dir, 'repo')} }
backups:
  app: { targets: [local], compression: zstd }
  broken: { targets: [local] }
schedules:
${schedules}
${extra}
`,
  );
  return {
    DBBACKUP_DATA_DIR: join(dir, 'data'),
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    DBBACKUP_CONFIG: join(dir, 'dbbackup.yaml'),
  };
}

/** Rows that ran something (not skips or missed-run records). */
export const executed = (rows: RunRow[]) => rows.filter((r) => r.outcome !== 'skipped' && r.outcome !== 'missed');
