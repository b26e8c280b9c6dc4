// Shared bench helpers: run a command, time it, and track its peak RSS (VmHWM) from /proc.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';

const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** Direct children of `pid` (every thread's list). */
function childrenOf(pid) {
  const out = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    }
  } catch {}
  return out;
}

/** utime, stime, cutime, cstime of `pid` in seconds, or undefined once it is gone. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { self: (Number(f[11]) + Number(f[12])) / TICK, reaped: (Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by the process tree under `pid` (live processes plus the children they
 * reaped). Take it before and after an operation to get a server's share of the work.
 */
export function treeCpuSeconds(pid) {
  const c = cpuOf(pid);
  if (!c) return 0;
  return c.self + c.reaped + childrenOf(pid).reduce((sum, child) => sum + treeCpuSeconds(child), 0);
}

/**
 * Runs `cmd args` (optionally through a shell), returns { seconds, peakRssMB, mainPeakRssMB, cpuSeconds, code }
 * (peakRssMB: the sum of the process's and its children's peaks; mainPeakRssMB: the process's own).
 * cpuSeconds (user + system of the process and its children) is sampled every 25 ms, so it may miss
 * the last few milliseconds.
 */
export function measure(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d.toString()));
    let peakKb = 0;
    let mainPeakKb = 0;
    let cpu = 0;
    const pids = () => {
      // The process and its descendants (a shell pipeline's members).
      const out = [child.pid];
      try {
        for (const line of readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)) if (line) out.push(Number(line));
      } catch {}
      return out;
    };
    const poll = () => {
      let total = 0;
      for (const pid of pids()) {
        try {
          const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
          if (m) total += Number(m[1]);
          if (m && pid === child.pid) mainPeakKb = Math.max(mainPeakKb, Number(m[1]));
        } catch {}
      }
      peakKb = Math.max(peakKb, total);
      cpu = Math.max(cpu, treeCpuSeconds(child.pid));
    };
    const timer = setInterval(poll, 25);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ seconds, peakRssMB: peakKb / 1024, mainPeakRssMB: mainPeakKb / 1024, cpuSeconds: cpu, code, stderr: stderr.slice(-4000) });
    });
  });
}

export function sizeMB(path) {
  return statSync(path).size / 1e6;
}

export function printTable(rows) {
  const headers = Object.keys(rows[0]);
  const cells = [headers, ...rows.map((r) => headers.map((h) => String(r[h])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const r of cells) console.log(r.map((c, i) => c.padStart(widths[i])).join('  '));
}

/**
 * Prints a `--profile-stages=FILE` report: each stage's busy and backpressure-wait seconds, its share
 * of the wall time (stages and parts overlap, so the shares add up to more than 100 %), MB and MB/s.
 */
export function printStageProfile(title, processSeconds, report) {
  console.log(`\nwhere the time goes: ${title}: ${processSeconds.toFixed(2)} s whole process, ${(report.wallMs / 1000).toFixed(2)} s inside the command; main thread busy ${((report.mainThreadBusyMs ?? 0) / 1000).toFixed(2)} s, process CPU ${((report.processCpuMs ?? 0) / 1000).toFixed(2)} s`);
  printTable(
    report.stages.map((s) => ({
      stage: s.stage,
      'busy s': (s.busyMs / 1000).toFixed(2),
      'busy % of wall': ((100 * s.busyMs) / report.wallMs).toFixed(0),
      'wait s': (s.waitMs / 1000).toFixed(2),
      MB: (s.bytes / 1e6).toFixed(1),
      'MB/s': s.busyMs > 0 ? (s.bytes / 1e3 / s.busyMs).toFixed(0) : '-',
      calls: s.calls,
    })),
  );
}
