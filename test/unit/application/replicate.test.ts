import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileRunLocks } from '../../../src/adapters/locks/file-run-locks.js';
import type { LogPosition } from '../../../src/application/ports/change-capture.js';
import type { ContinuousCapture, LogBatch } from '../../../src/application/ports/continuous-capture.js';
import type { DatabaseConnector } from '../../../src/application/ports/database-connector.js';
import type { DatabaseSession } from '../../../src/application/ports/database-session.js';
import type { PartSink } from '../../../src/application/ports/parts.js';
import { Replicate, type ReplicateEvent } from '../../../src/application/use-cases/replicate.js';
import { PartReader } from '../../../src/application/pipeline/part-reader.js';
import { readManifest, scanRepository } from '../../../src/application/services/backup-repository.js';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../../src/adapters/compression/zstd-codec.js';
import { LOG_SEGMENT_PART, type LogCommit, readLogSegment } from '../../../src/domain/log-segment.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { fixedClock, MemoryCatalog, MemoryOpener, silentLogger } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

const codecs = new MapCodecRegistry([new ZstdCodec(), new NoneCodec()]);
const locksDir = mkdtempSync(join(tmpdir(), 'dbbackup-replicate-locks-'));
afterAll(() => rmSync(locksDir, { recursive: true, force: true }));

/** A log the test appends commits to; positions are commit counts. */
class FakeCapture implements ContinuousCapture {
  log: LogCommit[] = [];
  read = 0;
  shipped = 0;
  snapshots = 0;
  released: LogPosition[] = [];
  constructor(private readonly resumable: boolean) {}
  async start() {
    return { identity: 'inode-1', resumable: this.resumable };
  }
  async snapshot(sink: PartSink) {
    this.snapshots++;
    // The snapshot is at the log's length when it starts: a commit made while it is written (the
    // tests commit as soon as they see the snapshot begin) comes after it, as with a real engine.
    // Its consistent time is taken then too (a real snapshot's time is its start, not when it is written).
    const at = this.log.length;
    const consistentAt = new Date();
    this.lastSnapshotAt = consistentAt.getTime();
    await sink.write({ name: 'data/main.0.bin', role: 'data', object: 'main' }, Readable.from([Buffer.from(`snapshot at ${at}`)]));
    this.read = this.shipped = at;
    return { serverVersion: '1', consistentAt, logPosition: null, objects: [{ name: 'main', type: 'table', rows: 1 }], warnings: [], engineInfo: {}, at: { n: at } };
  }
  async poll() {
    this.read = this.log.length;
    return this.log.slice(this.shipped, this.read).reduce((n, c) => n + c.payload.length, 0);
  }
  take(from: LogPosition): LogBatch | null {
    const commits = this.log.slice(this.shipped, this.read);
    return commits.length ? { from, to: { n: this.read }, commits, bytes: commits.reduce((n, c) => n + c.payload.length, 0) } : null;
  }
  async release(position: LogPosition) {
    this.released.push(position);
    this.shipped = (position as { n: number }).n;
  }
  async close() {}
  lastSnapshotAt = 0;
  commit(text: string, time = Date.now()) {
    this.log.push({ time, payload: Buffer.from(text) });
  }
}

function setup(capture: FakeCapture, store = new MemoryBlobStore()) {
  const connector: DatabaseConnector = {
    engine: 'sqlite',
    capabilities: { incremental: true, pointInTime: false, selectiveRestore: false, atomicRestore: true },
    defaultSourceName: () => 'app',
    connect: async () => ({ continuous: capture, close: async () => {} }) as unknown as DatabaseSession,
  };
  const deps = {
    connectors: new MapConnectorRegistry([connector]),
    opener: new MemoryOpener(store),
    codecs,
    catalog: new MemoryCatalog(),
    clock: fixedClock(),
    logger: silentLogger,
    progress: new NullProgress(),
    locks: new FileRunLocks(locksDir),
    toolVersion: 'test',
  };
  return { store, replicate: new Replicate(deps) };
}

const input = (events: ReplicateEvent[]) => ({
  target: { engine: 'sqlite' as const, database: 'app.db' },
  repository: 'mem',
  compression: { codec: 'zstd' },
  intervalMs: 10,
  pollMs: 5,
  compactionLevelsMs: [10],
  onEvent: (e: ReplicateEvent) => events.push(e),
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('Replicate', () => {
  it('snapshots an empty repository (a new generation), then ships commits as linked segments, and flushes on abort', async () => {
    const capture = new FakeCapture(false);
    const { store, replicate } = setup(capture);
    const events: ReplicateEvent[] = [];
    const stop = new AbortController();
    const running = replicate.execute(input(events), stop.signal);
    await until(() => capture.snapshots === 1);
    capture.commit('one');
    capture.commit('two');
    await until(() => events.some((e) => e.type === 'segment'));
    capture.commit('three');
    stop.abort();
    const result = await running;
    expect(result).toMatchObject({ segments: 2, commits: 3, snapshots: 1 });
    const { manifests } = await scanRepository(store, { source: 'app' });
    const full = manifests.find((m) => m.kind === 'full');
    const s1 = manifests.find((m) => m.parent === full?.id);
    const s2 = manifests.find((m) => m.parent === s1?.id);
    expect(manifests).toHaveLength(3);
    expect(full).toMatchObject({ kind: 'full', generation: result.generation, position: { from: null, to: { n: 0 } } });
    expect(s1).toMatchObject({ kind: 'incremental', continuous: true, parent: full!.id, baseFull: full!.id, generation: result.generation, position: { from: { n: 0 }, to: { n: 2 } } });
    expect(s2).toMatchObject({ parent: s1!.id, position: { from: { n: 2 }, to: { n: 3 } }, restorable: { from: s1!.restorable!.to } });
    expect(capture.released).toEqual([{ n: 2 }, { n: 3 }]);
    const reader = new PartReader(store, s1!, codecs);
    const commits: string[] = [];
    for await (const c of readLogSegment(await reader.open(s1!.parts.find((p) => p.name.startsWith(LOG_SEGMENT_PART))!), 'segment')) commits.push(c.payload.toString());
    expect(commits).toEqual(['one', 'two']);
  });

  it('a second replicate of the same source into the same repository fails with E_LOCKED while the first runs; the lock is freed when it stops', async () => {
    const capture = new FakeCapture(false);
    const { replicate } = setup(capture);
    const stop = new AbortController();
    const running = replicate.execute(input([]), stop.signal);
    await until(() => capture.snapshots === 1);
    const other = setup(new FakeCapture(false));
    const err = await other.replicate.execute(input([]), new AbortController().signal).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_LOCKED', message: expect.stringContaining(`process ${process.pid}`) });
    stop.abort();
    await running;
    // Freed: the next one runs (its snapshot taken, it stops cleanly).
    const again = new AbortController();
    const nextCapture = new FakeCapture(false);
    const next = setup(nextCapture).replicate.execute(input([]), again.signal);
    await until(() => nextCapture.snapshots === 1);
    again.abort();
    await expect(next).resolves.toMatchObject({ source: 'app', snapshots: 1 });
  });

  it('makes no storage request while nothing changes', async () => {
    const capture = new FakeCapture(false);
    const store = new MemoryBlobStore();
    let requests = 0;
    const counting = new Proxy(store, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (...args: unknown[]) => (requests++, (v as (...a: unknown[]) => unknown).apply(target, args)) : v;
      },
    });
    const { replicate } = setup(capture, counting);
    const stop = new AbortController();
    const running = replicate.execute(input([]), stop.signal);
    await until(() => capture.snapshots === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = requests;
    let polls = 0;
    const poll = capture.poll.bind(capture);
    capture.poll = async () => (polls++, poll());
    await until(() => polls >= 20);
    expect(requests).toBe(after);
    stop.abort();
    expect((await running).segments).toBe(0);
  });

  it('resumes the newest generation when the log still reaches its last segment: no snapshot, the next segment follows it', async () => {
    const first = new FakeCapture(false);
    const { store, replicate } = setup(first);
    const stop = new AbortController();
    const running = replicate.execute(input([]), stop.signal);
    await until(() => first.snapshots === 1);
    first.commit('a');
    stop.abort();
    const one = await running;
    const last = (await scanRepository(store, { source: 'app' })).manifests.find((m) => m.continuous)!;

    const second = new FakeCapture(true);
    second.log = [...first.log];
    second.read = second.shipped = 1;
    const again = setup(second, store).replicate;
    const events: ReplicateEvent[] = [];
    const stop2 = new AbortController();
    const running2 = again.execute(input(events), stop2.signal);
    await until(() => events.some((e) => e.type === 'resumed'));
    second.commit('b');
    await until(() => events.some((e) => e.type === 'segment'));
    stop2.abort();
    const two = await running2;
    expect(two).toMatchObject({ generation: one.generation, snapshots: 0, segments: 1 });
    expect(second.snapshots).toBe(0);
    const id = (events.find((e) => e.type === 'segment') as { id: string }).id;
    expect(await readManifest(store, 'app', id)).toMatchObject({ parent: last.id, position: { from: last.position!.to } });
  });

  it('resumes after a segment whose last commit has the same time as its full (same millisecond): it still follows the segment', async () => {
    const first = new FakeCapture(false);
    const { store, replicate } = setup(first);
    const stop = new AbortController();
    const running = replicate.execute(input([]), stop.signal);
    await until(() => first.lastSnapshotAt > 0);
    first.commit('a', first.lastSnapshotAt);
    await until(() => first.released.length > 0);
    stop.abort();
    await running;
    const segment = (await scanRepository(store, { source: 'app' })).manifests.find((m) => m.kind !== 'full')!;
    expect(Date.parse(segment.restorable!.to)).toBe(first.lastSnapshotAt);

    const second = new FakeCapture(true);
    second.log = [...first.log];
    second.read = second.shipped = 1;
    const events: ReplicateEvent[] = [];
    const stop2 = new AbortController();
    const running2 = setup(second, store).replicate.execute(input(events), stop2.signal);
    await until(() => events.some((e) => e.type === 'resumed'));
    stop2.abort();
    await running2;
    expect(events.find((e) => e.type === 'resumed')).toMatchObject({ from: segment.id });
  });

  it('a segment that did not reach the target is shipped again later, from the same position, and only then released', async () => {
    const capture = new FakeCapture(false);
    const store = new MemoryBlobStore();
    let failing = false;
    let failed = 0;
    const flaky = new Proxy(store, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'put' || typeof v !== 'function') return typeof v === 'function' ? (v as () => unknown).bind(target) : v;
        return (...args: unknown[]) => {
          if (failing) {
            failed++;
            return Promise.reject(new Error('storage down'));
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const { replicate } = setup(capture, flaky);
    const events: ReplicateEvent[] = [];
    const stop = new AbortController();
    const running = replicate.execute(input(events), stop.signal);
    await until(() => capture.snapshots === 1);
    failing = true;
    capture.commit('kept');
    await until(() => events.some((e) => e.type === 'failed'));
    expect(capture.released).toEqual([]);
    failing = false;
    await until(() => events.some((e) => e.type === 'segment'));
    stop.abort();
    await running;
    expect(failed).toBeGreaterThan(0);
    expect(capture.released).toEqual([{ n: 1 }]);
    const segments = (await scanRepository(store, { source: 'app' })).manifests.filter((m) => m.continuous);
    expect(segments.map((m) => m.position)).toEqual([{ from: { n: 0 }, to: { n: 1 } }]);
  });
});
