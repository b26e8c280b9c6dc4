// Shared bench helpers: run a command, time it, and track its peak RSS (VmHWM) from /proc.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

/** Runs `cmd args` (optionally through a shell), returns { seconds, peakRssMB, code }. */
export function measure(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d.toString()));
    let peakKb = 0;
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
        } catch {}
      }
      peakKb = Math.max(peakKb, total);
    };
    const timer = setInterval(poll, 25);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ seconds, peakRssMB: peakKb / 1024, code });
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
