// The lock-wait server fault: another session holds table u for the whole backup, which runs with
// --lock-wait-timeout 1s and must fail E_LOCK_TIMEOUT naming the table, the lock and the holder
// (where the server tells it), list nothing new, and succeed once the lock is gone.
// PostgreSQL: LOCK TABLE u IN ACCESS EXCLUSIVE MODE. MariaDB: LOCK TABLES u WRITE (which also keeps
// FLUSH TABLES WITH READ LOCK waiting); the seed says whether the metadata_lock_info plugin is
// loaded (the holder named) or not (the table named, and how to learn the holder).
import type { MariaDbServer } from '../helpers/mariadb-server.js';
import type { PostgresServer } from '../helpers/postgres-server.js';
import { cliShapeProblems } from './checks.js';
import { setPhase } from './cli-watch.js';
import type { serverKillBench } from './kill-server.js';

type Bench = Awaited<ReturnType<typeof serverKillBench>>['ctx'];
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('error ')) ?? stderr.slice(0, 200);

export async function lockWaitTrial(
  b: Bench,
  seed: number,
  problems: string[],
  listed: () => Promise<string[]>,
  nextBackup: () => Promise<void>,
): Promise<{ variant: string; what: string; problems: string[] }> {
  const pg = b.engine === 'postgres';
  const plugin = !pg && seed % 2 === 0;
  const before = await listed();
  let expected: RegExp;
  let how: string;
  let release: () => Promise<void>;
  if (pg) {
    const holder = await (b.server as PostgresServer).connect('app');
    release = () => holder.end().catch(() => undefined);
    await holder.query("SET application_name = 'reliability-lock'; BEGIN; LOCK TABLE u IN ACCESS EXCLUSIVE MODE");
    how = 'table u held in ACCESS EXCLUSIVE mode';
    expected = /^error E_LOCK_TIMEOUT: .*waited 1s \(--lock-wait-timeout\) for a lock on table public\.u: another session holds it in ACCESS EXCLUSIVE mode \(pid \d+.*application reliability-lock/m;
  } else {
    const my = b.server as MariaDbServer;
    const loaded = (await my.query("SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'")).length > 0;
    if (plugin && !loaded) await my.query("INSTALL SONAME 'metadata_lock_info'");
    if (!plugin && loaded) await my.query("UNINSTALL SONAME 'metadata_lock_info'");
    const holder = await my.connect('app');
    release = () => holder.end().catch(() => undefined);
    await holder.query('LOCK TABLES u WRITE');
    const [row] = (await holder.query('SELECT CONNECTION_ID() AS id'))[0] as { id: number }[];
    how = `table u held by LOCK TABLES … WRITE (metadata_lock_info ${plugin ? 'loaded' : 'not loaded'})`;
    expected = plugin
      ? new RegExp(`^error E_LOCK_TIMEOUT: .*waited 1s \\(--lock-wait-timeout\\) for a lock on table app\\.u: another session holds it \\(MDL_SHARED_NO_READ_WRITE, Table metadata lock; connection id ${row!.id}, user root`, 'm')
      : /^error E_LOCK_TIMEOUT: .*waited 1s \(--lock-wait-timeout\) for a lock on table app\.u, which another session holds \(the server names the holding session once the metadata_lock_info plugin is installed/m;
  }
  let run;
  try {
    setPhase(`backup while ${how}`);
    run = await b.cli([...b.args, '--lock-wait-timeout', '1s']);
  } finally {
    await release();
  }
  problems.push(...cliShapeProblems(run, [1]));
  if (!expected.test(run.stderr)) problems.push(`not an E_LOCK_TIMEOUT naming the table, the lock and the session: ${run.stderr.slice(0, 400)}`);
  const after = await listed();
  if (after.length !== before.length) problems.push(`the failed backup changed what is listed: ${before.length} backups before, ${after.length} after`);
  await nextBackup();
  return {
    variant: `${b.engine} lock wait${pg ? '' : plugin ? ' (holder named)' : ' (no metadata_lock_info)'}: ${/error (E_[A-Z_]+)/.exec(run.stderr)?.[1] ?? `exit ${run.code}`}`,
    what: `${b.engine} backup with --lock-wait-timeout 1s while ${how}: ${errorLine(run.stderr)}`,
    problems,
  };
}
