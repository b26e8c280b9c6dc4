import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScheduleRun } from '../../../src/application/ports/schedule-history.js';
import { redisClient } from '../../../src/adapters/queue/redis-commands.js';
import { RedisScheduleStore } from '../../../src/adapters/queue/redis-schedule-store.js';
import { BIN } from '../../helpers/cli.js';
import { silentLogger } from '../../helpers/fakes.js';
import { Database } from '../../helpers/sqlite-fixtures.js';

export interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Starts the built CLI with `args` as a subprocess (a fleet worker or publisher). */
export function startCli(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-200_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : -2))));
  return {
    child,
    out: () => out,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface FleetSetup {
  /** Env for a process of "machine" `name`: its own data dir (catalog), the shared config. */
  env(name: string): NodeJS.ProcessEnv;
  sources: string[];
  repo: string;
}

/**
 * A fleet's config in `dir`: `count` small SQLite sources (`db0`…), one `big` source slow enough
 * to be caught mid-backup (on `bigCron`: its period must exceed the lock timeout, or its next slot
 * takes the dead worker's lock over before the stalled job comes back), one `broken` source (its
 * file is missing: every run fails), `servers` (name → source config: databases on the harness's
 * PostgreSQL and MariaDB), the others on `cron`, into one local target limited to `targetLimit` runs at once; failures notified to `hook`.
 */
export async function fleetSetup(dir: string, o: { count: number; cron: string; bigCron: string; servers?: Record<string, string>; redisUrl: string; lockTimeout: string; targetLimit: number; hook: string; bigMiB: number }): Promise<FleetSetup> {
  const sources: string[] = [];
  for (let i = 0; i < o.count; i++) {
    const db = new Database(join(dir, `db${i}.db`));
    db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200) INSERT INTO t (v) SELECT 'row ' || x || ' of db${i}' FROM n;`);
    db.close();
    sources.push(`db${i}`);
  }
  const big = new Database(join(dir, 'big.db'));
  big.exec(`CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB); WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${o.bigMiB * 256}) INSERT INTO b (v) SELECT randomblob(4096) FROM n;`);
  big.close();
  const servers = Object.entries(o.servers ?? {});
  sources.push(...servers.map(([name]) => name));
  const all = [...sources, 'big', 'broken'];
  const repo = join(dir, 'repo');
  const config = `
sources:
${sources.filter((s) => s.startsWith('db')).map((s) => `  ${s}: { engine: sqlite, database: ${join(dir, `${s}.db`)} }`).join('\n')}
${servers.map(([name, line]) => `  ${name}: ${line}`).join('\n')}
  big: { engine: sqlite, database: ${join(dir, 'big.db')} }
  broken: { engine: sqlite, database: ${join(dir, 'missing', 'gone.db')} }
targets:
  local: { url: ${repo} }
backups:
${all.map((s) => `  ${s}: { targets: [local], compression: ${s === 'big' ? 'gzip' : 'zstd'} }`).join('\n')}
schedules:
${all.map((s) => `  - { name: ${s}-job, cron: "${s === 'big' ? o.bigCron : o.cron}", task: backup, source: ${s}, timezone: UTC }`).join('\n')}
notifications:
  - { type: webhook, url: "${o.hook}", on: [failure], retries: 0 }
queue:
  url: ${o.redisUrl}
  lock-timeout: ${o.lockTimeout}
  target-limits: { local: ${o.targetLimit} }
`;
  await writeFile(join(dir, 'dbbackup.yaml'), config);
  await mkdir(join(dir, 'machines'), { recursive: true });
  return {
    sources: all,
    repo,
    env: (name) => ({
      DBBACKUP_CONFIG: join(dir, 'dbbackup.yaml'),
      DBBACKUP_DATA_DIR: join(dir, 'machines', name, 'data'),
      XDG_STATE_HOME: join(dir, 'machines', name, 'state'),
      XDG_CONFIG_HOME: join(dir, 'machines', name, 'config'),
      DBBACKUP_LOG_FILE: 'off',
    }),
  };
}

/** The fleet's run history, oldest first, read from Redis as any machine would. */
export async function fleetRuns(port: number): Promise<ScheduleRun[]> {
  const store = new RedisScheduleStore(redisClient({ host: '127.0.0.1', port }, silentLogger), { prefix: 'dbbackup', where: `127.0.0.1:${port}`, outageMs: 5_000 });
  try {
    return (await store.history({ limit: 1_000_000 })).reverse();
  } finally {
    await store.close();
  }
}

/** The fleet's run history as text, one run a line (the newest `last` runs when given), for a failing check's message. */
export async function fleetRunsText(port: number, last?: number): Promise<string> {
  const runs = await fleetRuns(port);
  return (last ? runs.slice(-last) : runs)
    .map((r) => `${r.id} ${r.schedule} ${r.slot?.toISOString()} ${r.outcome} ${r.owner} ${r.startedAt.toISOString()} ${r.finishedAt?.toISOString() ?? ''} ${r.note ?? r.errorCode ?? ''}`)
    .join('\n');
}

/** Polls `check` every 200 ms until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false> | T | undefined | false, explain?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${explain ? `\n${await explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pid in an owner id (`worker:host:pid:random`). */
export function pidOf(owner: string): number {
  return Number(owner.split(':').at(-2));
}

const terminal = (r: ScheduleRun) => r.outcome !== 'running' && r.outcome !== 'interrupted';
const executed = (r: ScheduleRun) => r.outcome !== 'skipped' && r.outcome !== 'missed';

/**
 * The fleet's guarantees over a finished run history (oldest first), as a list of violations (empty
 * when all hold): every slot of every source recorded exactly once (a run that died with a killed
 * worker is 'interrupted': its slot has that record only, or one more final one when another worker
 * took it over), no slot lost between a source's first and last, nothing left running, nothing
 * interrupted but the killed owners' runs, and never two runs of a source at once.
 */
export function fleetViolations(runs: ScheduleRun[], o: { sources: string[]; periodMs: (source: string) => number; killedOwners: string[] }): string[] {
  const out: string[] = [];
  for (const r of runs.filter((x) => x.outcome === 'running')) out.push(`${r.source}: run ${r.id} (slot ${r.slot?.toISOString()}) left running`);
  for (const s of o.sources) {
    const mine = runs.filter((r) => r.source === s);
    const slots = mine.filter(terminal).map((r) => r.slot!.getTime());
    const seen = new Set<number>();
    for (const t of slots) {
      if (seen.has(t)) out.push(`${s}: slot ${new Date(t).toISOString()} recorded twice`);
      seen.add(t);
    }
    const interrupted = mine.filter((r) => r.outcome === 'interrupted');
    for (const r of interrupted.filter((x) => !o.killedOwners.includes(x.owner))) out.push(`${s}: run ${r.id} interrupted though its worker ${r.owner} lived`);
    const accounted = new Set([...slots, ...interrupted.map((r) => r.slot!.getTime())]);
    const sorted = [...accounted].sort((a, b) => a - b);
    if (sorted.length === 0) continue;
    for (let t = sorted[0]!; t <= sorted.at(-1)!; t += o.periodMs(s)) if (!accounted.has(t)) out.push(`${s}: slot ${new Date(t).toISOString()} has no record`);
    const spans = mine.filter((r) => executed(r) && r.finishedAt).map((r) => [r.startedAt.getTime(), r.finishedAt!.getTime(), r.id] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) out.push(`${s}: runs ${spans[i - 1]![2]} and ${spans[i]![2]} overlap`);
  }
  return out;
}

/** The most backups that were in progress at one instant, from the manifests of the `listed` backups in `repo`. */
export async function peakAtOnce(repo: string, listed: string[]): Promise<number> {
  const windows: [number, number][] = [];
  const wanted = new Set(listed);
  for (const source of await readdir(repo, { withFileTypes: true })) {
    if (!source.isDirectory()) continue;
    for (const id of (await readdir(join(repo, source.name))).filter((x) => wanted.has(x))) {
      const text = await readFile(join(repo, source.name, id, 'manifest.json'), 'utf8').catch(() => undefined);
      if (!text) continue;
      const m = JSON.parse(text) as { startedAt: string; finishedAt: string };
      windows.push([Date.parse(m.startedAt), Date.parse(m.finishedAt)]);
    }
  }
  return Math.max(0, ...windows.map(([start]) => windows.filter(([a, b]) => a <= start && start < b).length));
}
