import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { keepAfterThreadStart, keepYoungGenerationSmall } from '../../../src/infrastructure/heap-tuning.js';

/**
 * A thread that, when asked, keeps a steady set of fresh Buffers alive while it allocates (what
 * grows a young generation) and answers its young generation's size in MiB. Its heap is new, so
 * its young generation starts at the initial size, whatever this test process's did before.
 */
const CHURN = `
const { parentPort } = require('node:worker_threads');
const v8 = require('node:v8');
parentPort.on('message', () => {
  let keep = [];
  for (let i = 0; i < 6e5; i++) {
    keep.push(Buffer.from('abcdefgh' + i));
    if (keep.length > 50000) keep = keep.slice(25000);
  }
  parentPort.postMessage(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576);
});
`;

describe('heap tuning: the young generation stays small', () => {
  it('also after another thread started (its heap setup raises the process-wide growth factor again)', async () => {
    keepYoungGenerationSmall();
    const measuring = new Worker(CHURN, { eval: true });
    keepAfterThreadStart(measuring);
    await once(measuring, 'online');
    const other = new Worker('setInterval(() => {}, 1000)', { eval: true });
    keepAfterThreadStart(other);
    await once(other, 'online');
    try {
      measuring.postMessage('go');
      const [mib] = (await once(measuring, 'message')) as [number];
      // Growing, it doubles to 32 MiB (16 MiB semi-spaces); kept, it stays at one or two.
      expect(mib).toBeLessThanOrEqual(4);
    } finally {
      await Promise.all([measuring.terminate(), other.terminate()]);
    }
  });
});
