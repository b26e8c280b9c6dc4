import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';
import { serverKillBench } from './kill-server.js';
import { serverFaultTrial, type ServerFault } from './server-faults.js';

const engine = (process.env.SCRATCH_ENGINE ?? 'mysql') as 'mysql' | 'postgres';
const faults = (process.env.SCRATCH_FAULTS ?? 'lock wait').split(',') as ServerFault[];
it('scratch', async () => {
  const dir = await tempDir('dbb-scr-');
  const bench = await serverKillBench(engine, join(dir.path, 'k'));
  const out = [];
  try {
    for (const [i, f] of faults.entries()) {
      const t0 = Date.now();
      const r = await serverFaultTrial(bench.ctx, 100 + i, f);
      out.push({ ...r, ms: Date.now() - t0 });
    }
  } finally {
    await bench.stop();
    await dir.cleanup();
  }
  console.log(JSON.stringify(out, null, 1));
  expect(out.flatMap((o) => o.problems)).toEqual([]);
}, 600_000);
