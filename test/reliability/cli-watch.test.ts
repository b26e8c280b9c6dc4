import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { setPhase, spawnWatched } from './cli-watch.js';
import { runFamily } from './harness.js';

// The reliability harness's own guard: a process of a trial that runs past its limit is killed with
// its whole process group (a child it started too) and the trial fails naming the command, the
// seed, the phase and the last stderr lines; nothing a trial started outlives it.

/** True while a process with this pid runs (a zombie no one reaped yet has ended: state Z). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** A node process that prints to stderr, starts a child that prints its pid, and then never ends. */
const HANG = [
  '-e',
  `const { spawn } = require('node:child_process');
   const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
   process.stdout.write(String(c.pid) + '\\n');
   process.stderr.write('step one done\\nwaiting for the server forever\\n');
   setInterval(() => {}, 1000);`,
];

describe('reliability harness: a process past its limit', () => {
  it('is killed with its process group, and its trial fails naming the command, seed, phase and stderr', async () => {
    const pids: number[] = [];
    const r = await runFamily(
      'watch self-test',
      1,
      42,
      async () => {
        setPhase('the hanging step');
        const { child, done } = spawnWatched(process.execPath, HANG, { shown: 'node hang.js --forever' });
        pids.push(child.pid!);
        const ended = await done;
        pids.push(Number(ended.stdout.trim()));
        return { variant: ended.overrun ? 'killed at the limit' : 'ended', what: 'a process that never ends', problems: [] };
      },
      { limitMs: 1500 },
    );
    expect(r.trials).toBe(1);
    expect(r.variants).toEqual({ 'killed at the limit (overrun)': 1 });
    expect(r.failures).toHaveLength(1);
    const [problem] = r.failures[0]!.problems;
    expect(problem).toMatch(/ran past its 1500 ms limit and its process group was killed \(SIGKILL\): node hang\.js --forever; watch self-test trial 0, seed 42, phase "the hanging step"; last stderr lines: step one done \| waiting for the server forever/);
    // The process and the child it started (same process group) are gone.
    expect(pids.every((p) => Number.isInteger(p) && p > 0)).toBe(true);
    for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((res) => setTimeout(res, 25));
    expect(pids.filter(alive)).toEqual([]);
  });

  it('kills what a trial left running when it ends, limit or not', async () => {
    let pid = 0;
    const r = await runFamily('watch self-test', 1, 7, async () => {
      const { child } = spawnWatched(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
      pid = child.pid!;
      return { variant: 'left running', what: 'a trial that does not wait for its process', problems: [] };
    });
    expect(r.failures).toEqual([]);
    for (let i = 0; i < 200 && alive(pid); i++) await new Promise((res) => setTimeout(res, 25));
    expect(alive(pid)).toBe(false);
  });
});
