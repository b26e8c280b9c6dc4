// A silent network partition between the CLI and its database server: a TCP gate in front of the
// server (test/helpers/tcp-gate.ts) stops passing bytes both ways, closing nothing, once a seeded
// number of bytes went through — inside a backup's table stream (server → client) or a restore's
// data load (client → server). With --io-timeout 2s the run must end within that timeout's reach
// (a hang is killed at the CLI limit and named) as exit 3 with one `error E_NETWORK_TIMEOUT` line
// naming the gate's host:port, list nothing incomplete, leave a restore target untouched or marked,
// and the next run, with the network back (straight to the server), must succeed.
import { cliShapeProblems } from './checks.js';
import { setPhase } from './cli-watch.js';
import { rng } from './harness.js';
import type { serverKillBench } from './kill-server.js';
import { startTcpGate } from '../helpers/tcp-gate.js';
import { checkCatalog, checkRepository } from './checks.js';

type Bench = Awaited<ReturnType<typeof serverKillBench>>['ctx'];

export const PARTITION_OPERATIONS = ['backup', 'restore'] as const;
export type PartitionOperation = (typeof PARTITION_OPERATIONS)[number];

const IO_TIMEOUT = '2s';

/** CI: one operation per engine, the seed's; the long mode every one. */
export function partitionOperationsFor(ci: boolean, seed: number): PartitionOperation[] {
  return ci ? [PARTITION_OPERATIONS[seed % PARTITION_OPERATIONS.length]!] : [...PARTITION_OPERATIONS];
}

/** `url` with its port replaced by the gate's. */
function through(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

export async function partitionTrial(b: Bench, seed: number, operation: PartitionOperation): Promise<{ variant: string; what: string; problems: string[] }> {
  const random = rng(seed);
  const problems: string[] = [];
  const backup = operation === 'backup';
  // Past the catalog reads and into the data (a backup reads ~13 MB of table data, a restore sends as much).
  const after = Math.round(64 * 1024 + random() * 4 * 1024 * 1024);
  const engine = b.engine === 'postgres' ? 'PostgreSQL' : 'MySQL';
  if (!backup) await b.occupyTarget();
  const before = backup ? await checkRepository(b.repo) : undefined;
  const targetBefore = backup ? undefined : await b.read('restored');
  const gate = await startTcpGate({ port: b.server.port }, undefined, { blackholeAfter: backup ? { toClient: after } : { toServer: after } });
  let run;
  try {
    const args = backup ? [...b.args] : b.restoreArgs(true);
    const at = args.indexOf('--url') + 1;
    args[at] = through(args[at]!, gate.port);
    setPhase(`${operation} through a gate that goes silent after ${after} bytes ${backup ? 'from the server' : 'to the server'}`);
    run = await b.cli([...args, '--io-timeout', IO_TIMEOUT]);
  } finally {
    await gate.stop();
  }
  if (run.code === 0 && gate.silent) problems.push(`the ${operation} succeeded although the network went silent after ${after} bytes`);
  if (run.code !== 0) {
    problems.push(...cliShapeProblems(run, [3]));
    const expected = new RegExp(`^error E_NETWORK_TIMEOUT: (.* )?The connection to the ${engine} server at 127\\.0\\.0\\.1:${gate.port} passed no byte for 2 s \\(--io-timeout\\) while .+`, 'm');
    if (!expected.test(run.stderr)) problems.push(`not an E_NETWORK_TIMEOUT naming 127.0.0.1:${gate.port} and the 2 s: ${run.stderr.slice(0, 400)}`);
  }
  if (backup) {
    const after = await checkRepository(b.repo);
    problems.push(...after.problems, ...(await checkCatalog(b.dataDir, b.repo, after.ids)));
    if (run.code !== 0 && after.ids.length !== before!.ids.length) problems.push(`the failed backup changed what is listed: ${before!.ids.length} backups before, ${after.ids.length} after`);
    setPhase('the next backup, the network back');
    const next = await b.cli([...b.args, '--json']);
    if (next.code !== 0) problems.push(`the next backup failed (${next.code}): ${next.stderr.slice(0, 300)}`);
  } else {
    const now = await b.read('restored');
    const untouched = JSON.stringify(now.tables) === JSON.stringify(targetBefore!.tables);
    if (run.code !== 0 && !now.marked && !untouched) problems.push(`the restore failed and left the target unmarked: ${JSON.stringify(now.tables).slice(0, 300)}`);
    setPhase('the next restore --clean, the network back');
    const next = await b.cli([...b.restoreArgs(true), '--create']);
    if (next.code !== 0) problems.push(`the next restore --clean failed (${next.code}): ${next.stderr.slice(0, 300)}`);
    else {
      const last = await b.read('restored');
      if (last.marked) problems.push('the next restore --clean left the incomplete-restore mark');
      for (const [t, v] of Object.entries(b.sourceTables)) if (last.tables[t] !== v) problems.push(`after the next restore --clean, ${t} differs from the source`);
    }
  }
  const code = /error (E_[A-Z_]+)/.exec(run.stderr)?.[1];
  return {
    variant: `${b.engine} ${operation}: ${run.code === 0 ? (gate.silent ? 'succeeded silent' : 'finished first') : `failed ${code ?? run.code}`}`,
    what: `${b.engine} ${operation} --io-timeout ${IO_TIMEOUT}, the network silent after ${after} bytes ${backup ? 'from' : 'to'} the server: ${run.stderr.split('\n').find((l) => l.startsWith('error ')) ?? `exit ${run.code}`}`,
    problems,
  };
}
