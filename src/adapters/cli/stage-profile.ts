// Contract: `--profile-stages` / DBBACKUP_STAGE_PROFILE on backup and restore: (DBBACKUP_PROFILE names a config profile) turns the stage profiler on
// for the one command, and at its end prints the per-stage table on stderr or writes it as JSON
// (file mode 0600). When neither is given nothing is installed and the pipeline runs untimed.
import { writeFile } from 'node:fs/promises';
import { Option } from 'clipanion';
import type { StageTotals } from '../../application/ports/profiler.js';
import { StageProfiler, useProfiler } from '../../application/services/profiling.js';

/** The flag: `--profile-stages` prints the table on stderr, `--profile-stages=FILE` writes JSON. */
export const profileStagesOption = () =>
  Option.String('--profile-stages', {
    tolerateBoolean: true,
    description:
      'Time every stage (server read, parse, hash, compress, encrypt, store write / their restore twins) and print a table on stderr at the end; =FILE writes JSON instead. Same as DBBACKUP_STAGE_PROFILE=1 (or =FILE)',
  });

/** Where the profile goes: 'stderr', a JSON file, or undefined when profiling is off. */
export function profileDestination(flag: string | boolean | undefined, env = process.env['DBBACKUP_STAGE_PROFILE']): string | undefined {
  const value = flag ?? env;
  if (value === undefined || value === false || value === '' || value === '0' || value === 'false') return undefined;
  return value === true || value === '1' || value === 'true' ? 'stderr' : value;
}

/** The JSON document of a profile (also what the table is drawn from). */
export interface StageProfileReport {
  command: string;
  wallMs: number;
  /** Milliseconds the main thread (event loop) was busy: when near wallMs, async stages' times include queueing behind it. */
  mainThreadBusyMs: number;
  /** CPU milliseconds of the whole process (every thread: zlib, crypto, worker threads). */
  processCpuMs: number;
  stages: StageTotals[];
}

/** Runs `work` with a fresh profiler active, then reports it to `destination` (even when `work` fails). */
export async function withStageProfile<T>(command: string, destination: string, stderr: NodeJS.WritableStream, work: () => Promise<T>): Promise<T> {
  const profiler = new StageProfiler();
  const restore = useProfiler(profiler);
  const start = performance.now();
  const loop = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  try {
    return await work();
  } finally {
    restore();
    const used = process.cpuUsage(cpu);
    const report: StageProfileReport = {
      command,
      wallMs: round(performance.now() - start),
      mainThreadBusyMs: round(performance.eventLoopUtilization(loop).active),
      processCpuMs: round((used.user + used.system) / 1000),
      stages: profiler.totals().map(rounded),
    };
    if (destination === 'stderr') stderr.write(renderStageProfile(report));
    else await writeFile(destination, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  }
}

/** The human table: one row per stage, busy and wait seconds, MB and MB/s of busy time. */
export function renderStageProfile(report: StageProfileReport): string {
  const head = ['stage', 'busy s', 'wait s', 'MB', 'MB/s', 'calls'];
  const rows = report.stages.map((s) => [
    s.stage,
    (s.busyMs / 1000).toFixed(3),
    (s.waitMs / 1000).toFixed(3),
    (s.bytes / 1e6).toFixed(1),
    s.busyMs > 0 ? (s.bytes / 1e3 / s.busyMs).toFixed(1) : '-',
    String(s.calls),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `stage profile of ${report.command}: ${(report.wallMs / 1000).toFixed(3)} s wall (stages overlap: parts and stages run at once)`,
    `main thread busy ${(report.mainThreadBusyMs / 1000).toFixed(3)} s, process CPU ${(report.processCpuMs / 1000).toFixed(3)} s`,
    line(head),
    ...rows.map(line),
    '',
  ].join('\n');
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
const rounded = (s: StageTotals): StageTotals => ({ ...s, busyMs: round(s.busyMs), waitMs: round(s.waitMs) });
