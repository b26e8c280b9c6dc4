import { afterAll, expect, it } from 'vitest';
import { startRedis } from '../../helpers/redis-server.js';
import { tempDir } from '../../helpers/temp.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { fleetRuns, fleetSetup, startCli } from './fleet-harness.js';

it('smoke', async () => {
  const redis = await startRedis();
  const dir = await tempDir('fleet-');
  const hook = await startRecorder();
  const f = await fleetSetup(dir.path, { count: 4, cron: '*/3 * * * * *', redisUrl: redis.url, lockTimeout: '8s', targetLimit: 4, hook: hook.url, bigMiB: 8 });
  const pub = startCli(['schedule', 'run'], f.env('pub'));
  const w1 = startCli(['worker', '--concurrency', '2'], f.env('w1'));
  const w2 = startCli(['worker', '--concurrency', '2'], f.env('w2'));
  await new Promise((r) => setTimeout(r, 12000));
  const st = startCli(['fleet', 'status'], f.env('pub'));
  await st.exited;
  console.log(st.out());
  await Promise.all([pub.stop(), w1.stop(), w2.stop()]);
  console.log(pub.out().slice(-3000));
  console.log(w1.out().slice(-3000));
  const runs = await fleetRuns(redis.port);
  console.log(runs.map((r) => `${r.schedule} ${r.slot?.toISOString()} ${r.outcome} ${r.owner} ${r.note ?? ''} ${r.errorCode ?? ''}`).join('\n'));
  console.log('hooks', hook.requests.length);
  await hook.close();
  await redis.remove();
  expect(runs.length).toBeGreaterThan(0);
}, 60000);
