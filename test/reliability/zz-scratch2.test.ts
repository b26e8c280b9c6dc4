import { join } from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';
import { serverKillBench } from './kill-server.js';
import { partitionTrial, type PartitionOperation } from './partition.js';

const engine = (process.env.SCRATCH_ENGINE ?? 'postgres') as 'mysql' | 'postgres';
const ops = (process.env.SCRATCH_OPS ?? 'backup,restore').split(',') as PartitionOperation[];
it('scratch', async () => {
  const dir = await tempDir('dbb-scr-');
  const bench = await serverKillBench(engine, join(dir.path, 'k'));
  const out = [];
  try {
    for (const [i, f] of ops.entries()) {
      const t0 = Date.now();
      const r = await partitionTrial(bench.ctx, 100 + i * 7, f);
      out.push({ ...r, ms: Date.now() - t0 });
    }
  } finally {
    await bench.stop();
    await dir.cleanup();
  }
  console.log(JSON.stringify(out, null, 1));
  expect(out.flatMap((o) => o.problems)).toEqual([]);
}, 600_000);
