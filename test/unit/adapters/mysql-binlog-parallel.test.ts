import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BinlogApplier } from '../../../src/adapters/connectors/mysql/mysql-binlog-applier.js';
import { BINLOG_MAGIC, EventType, readHeader } from '../../../src/adapters/connectors/mysql/mysql-binlog-events.js';
import { ParallelReplay } from '../../../src/adapters/connectors/mysql/mysql-binlog-parallel.js';

/** The captured MariaDB 10.11 log of mysql-binlog-events.test.ts (its INSERT is GTID, TABLE_MAP, WRITE_ROWS, XID). */
const file = readFileSync(join(import.meta.dirname, 'fixtures', 'mariadb-10.11.binlog'));
const all: Buffer[] = [];
for (let i = BINLOG_MAGIC.length; i < file.length; i += file.readUInt32LE(i + 9)) all.push(file.subarray(i, i + file.readUInt32LE(i + 9)));
const first = (type: number) => all.find((e) => readHeader(e).type === type)!;

/** An applier that records what reaches it and is slower than the reading (each event waits a timer turn), as a server applying a big transaction is. */
function slowApplier(seen: Buffer[]): BinlogApplier {
  const later = () => new Promise<void>((r) => setTimeout(r, 0));
  return {
    event: async (e: Buffer) => {
      await later();
      seen.push(e);
    },
    commit: async () => undefined,
    finish: async () => undefined,
  } as unknown as BinlogApplier;
}

describe('parallel binlog replay scheduling', () => {
  it('gives a streamed transaction (over the 16 MiB held whole) to its connection to its last event, also when the log closes it while the connection is busy', async () => {
    // ~18 MiB of one transaction: GTID, TABLE_MAP, 64 KiB rows events (the scheduler reads their headers only), XID.
    const rows = Buffer.alloc(1 << 16);
    all.find((e) => readHeader(e).type === EventType.WRITE_ROWS_V1 || readHeader(e).type === EventType.WRITE_ROWS_V2)!.copy(rows, 0, 0, 19);
    rows.writeUInt32LE(rows.length, 9);
    const count = Math.ceil((18 << 20) / rows.length);
    const log = [first(EventType.FORMAT_DESCRIPTION), first(EventType.MARIADB_GTID), first(EventType.TABLE_MAP), ...Array.from({ length: count }, () => rows), first(EventType.XID)];
    const seen: Buffer[][] = [[], [], []];
    const replay = new ParallelReplay(seen.map(slowApplier), 'the test log', (db, table) => `${db}.${table}`, async () => undefined);
    for (const e of log) {
      await replay.event(e);
      // The reading runs ahead of the slow connection (a stream's chunk arrives between events).
      await new Promise<void>((r) => setImmediate(r));
    }
    await replay.finish();
    const got = seen.flat();
    expect(got.filter((e) => e === rows)).toHaveLength(count);
    expect(readHeader(got.at(-1)!).type).toBe(EventType.XID);
  });
});

describe('parallel binlog replay: what waits for the connections is bounded', () => {
  it('stops reading once 1024 transactions wait, however small they are, and goes on as they are applied', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const xids: Buffer[] = [];
    const blocked = {
      event: async (e: Buffer) => {
        await gate;
        if (readHeader(e).type === EventType.XID) xids.push(e);
      },
      commit: async () => undefined,
      finish: async () => undefined,
    } as unknown as BinlogApplier;
    const replay = new ParallelReplay([blocked, blocked], 'the test log', (db, table) => `${db}.${table}`, async () => undefined);
    const transaction = [first(EventType.MARIADB_GTID), first(EventType.TABLE_MAP), all.find((e) => readHeader(e).type === EventType.WRITE_ROWS_V1 || readHeader(e).type === EventType.WRITE_ROWS_V2)!, first(EventType.XID)];
    await replay.event(first(EventType.FORMAT_DESCRIPTION));
    // Each event's promise settles within the same turn unless the reading waits (then only the gate opens it).
    const turn = () => new Promise<false>((r) => setImmediate(() => r(false)));
    let stalledAt: number | undefined;
    for (let t = 1; t <= 3000; t++) {
      for (const e of transaction) {
        const step = replay.event(e);
        if (stalledAt === undefined && (await Promise.race([step.then(() => true), turn()])) === false) {
          stalledAt = t;
          open();
        }
        await step;
      }
    }
    open(); // (a reading that never waited read it all)
    await replay.finish();
    expect(stalledAt).toBeDefined();
    expect(stalledAt!).toBeLessThanOrEqual(1025);
    expect(stalledAt!).toBeGreaterThan(1000);
    expect(xids).toHaveLength(3000);
  });
});
