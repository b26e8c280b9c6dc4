import { join } from 'node:path';
import { Int32 } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicateEvent } from '../../../src/application/use-cases/replicate.js';
import { appServices, type AppServices, buildContainer } from '../../../src/bootstrap/container.js';
import { type CongoHandle, startCongo } from '../../helpers/congodb.js';
import type { RecordedOplog } from '../../helpers/congodb-oplog.js';
import { tempDir } from '../../helpers/temp.js';
import { anyDb, snapshot } from './fixtures.js';

/**
 * `replicate` for MongoDB: a snapshot, then oplog segments, restored to their end and to an
 * instant between them. CongoDB with the oplog double writing entries for the server's own writes
 * (test/helpers/congodb-oplog.ts: inserts, replacement updates, deletes, creates and drops).
 */
describe('MongoDB replicate (oplog segments; CongoDB + oplog double)', () => {
  const rs: RecordedOplog = { name: 'rs0', entries: [], recordWrites: true };
  let congo: CongoHandle;
  let dir: { path: string; cleanup(): Promise<void> };
  let app: AppServices;

  beforeAll(async () => {
    congo = await startCongo({ replicaSet: rs });
    dir = await tempDir('dbb-oplog-repl-');
    app = appServices(buildContainer({ dataDir: join(dir.path, 'data'), logLevel: 'error', json: false, progress: false, toolVersion: 'test' }));
    await anyDb(congo.client, 'live').collection('t').insertMany([{ _id: new Int32(1), v: 'a' }, { _id: new Int32(2), v: 'b' }]);
  });
  afterAll(async () => {
    await congo?.stop();
    app?.close();
    await dir?.cleanup();
  });

  it('ships a snapshot and segments; a restore of the last segment equals the source, one at an earlier segment its state then', async () => {
    const events: ReplicateEvent[] = [];
    let notify: (() => void) | undefined;
    const stop = new AbortController();
    const running = app.replicate.execute(
      {
        target: { engine: 'mongodb', url: congo.url(), database: 'live' },
        repository: join(dir.path, 'repo'),
        compression: { codec: 'zstd' },
        intervalMs: 10,
        pollMs: 10,
        compactionLevelsMs: [],
        onEvent: (e) => {
          events.push(e);
          notify?.();
        },
      },
      stop.signal,
    );
    /** Waits until an event satisfies `ok` (no timing: the run reports every step). */
    const until = async (ok: (e: ReplicateEvent) => boolean) => {
      while (!events.some(ok)) {
        if (events.some((e) => e.type === 'failed')) throw new Error(JSON.stringify(events));
        await new Promise<void>((r) => (notify = r));
      }
    };
    await until((e) => e.type === 'generation');
    const db = anyDb(congo.client, 'live');
    await db.collection('t').insertOne({ _id: new Int32(3), v: 'c' });
    await db.collection('t').updateOne({ _id: new Int32(1) }, { $set: { v: 'changed' } });
    const segments = () => events.filter((e): e is Extract<ReplicateEvent, { type: 'segment' }> => e.type === 'segment');
    await until(() => segments().reduce((n, s) => n + s.commits, 0) >= 2);
    const middle = await snapshot(congo.client, 'live');
    const middleAt = segments().at(-1)!.through;
    // The next write must be at a later millisecond than `middleAt` (entries are timed by their wall clock).
    while (Date.now() <= Date.parse(middleAt)) await new Promise((r) => setTimeout(r, 1));
    await db.collection('t').deleteOne({ _id: new Int32(2) });
    await db.collection('fresh').insertOne({ _id: new Int32(9), v: 'new collection' });
    const before = segments().reduce((n, s) => n + s.commits, 0);
    // The delete, the collection's create and the insert.
    await until(() => segments().reduce((n, s) => n + s.commits, 0) >= before + 3);
    stop.abort();
    await running.catch(() => undefined);
    const end = await snapshot(congo.client, 'live');

    await app.restoreBackup.execute({ repository: join(dir.path, 'repo'), backup: 'latest', target: { engine: 'mongodb', url: congo.url(), options: { targetDatabase: 'copy_end' } }, clean: false }, new AbortController().signal);
    expect(await snapshot(congo.client, 'copy_end')).toEqual(end);
    await app.restoreBackup.execute(
      { repository: join(dir.path, 'repo'), backup: 'latest', at: new Date(middleAt), target: { engine: 'mongodb', url: congo.url(), options: { targetDatabase: 'copy_mid' } }, clean: false },
      new AbortController().signal,
    );
    expect(await snapshot(congo.client, 'copy_mid')).toEqual(middle);
  });
});
