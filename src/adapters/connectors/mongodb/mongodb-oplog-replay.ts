import type { Document } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';
import type { OplogApplier } from './mongodb-oplog-apply.js';
import { compareTimes, nestedEntry, type OplogEntry, type OplogTime, parseEntry, timeText, txnMeta } from './mongodb-oplog-entry.js';

/** The most a replay holds of transactions not yet committed (their entries wait for the commit). */
export const MAX_PENDING_TXN_BYTES = 512 << 20;

/**
 * What a replay carries from one link to the next: transactions whose entries started in one link
 * and commit in a later one (a link ends wherever the log was when it was read).
 */
export class ReplayState {
  /** Each open transaction's entries, raw (copies: the entries read are views into larger chunks). */
  readonly pending = new Map<string, Buffer[]>();
  pendingBytes = 0;
  /** The last entry applied or passed over, and its time. */
  last: OplogTime | undefined;
  lastTime: number | undefined;
  entries = 0;
}

export interface ReplayOptions {
  /** Stop before the first entry later than this (ms since the epoch): `restore --at`. */
  until?: number;
  where: string;
  signal: AbortSignal;
  /**
   * A sharded cluster's merged entries (mongodb-oplog-merge.ts): entries of equal time may follow
   * each other (from different shards), and `until` cuts at the cluster time (ts, to the second)
   * so that every shard stops at the same point, not at its own wall clock.
   */
  sharded?: boolean;
}

/**
 * Replays raw oplog entries in log order with applyOps semantics (as mongorestore --oplogReplay and
 * PBM do): transactions are held until their commit and applied whole (an abort drops them, a
 * prepared one waits for commitTransaction); an applyOps outside a transaction applies its
 * operations in order; no-ops are passed over. With `until`, the replay stops at the first entry
 * later than it, so the target holds every commit at or before that instant and none after.
 * Returns true when it stopped there.
 */
export async function replayEntries(entries: AsyncIterable<Buffer>, applier: OplogApplier, state: ReplayState, opts: ReplayOptions): Promise<boolean> {
  for await (const raw of entries) {
    opts.signal.throwIfAborted();
    const e = parseEntry(raw, opts.where);
    if (state.last && compareTimes(e.ts, state.last) < (opts.sharded ? 0 : 1)) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `${opts.where} holds entries out of order (${timeText(e.ts)} after ${timeText(state.last)}).`);
    }
    if (opts.until !== undefined && (opts.sharded ? e.ts.t * 1000 : e.time) > opts.until) {
      await applier.flush();
      return true;
    }
    await applyEntry(e, applier, state);
    state.last = e.ts;
    state.lastTime = e.time;
    state.entries++;
  }
  await applier.flush();
  return false;
}

async function applyEntry(e: OplogEntry, applier: OplogApplier, state: ReplayState): Promise<void> {
  // A chunk migration's own writes (the copy onto the recipient, the donor's range deletion) move
  // documents between shards and change no data: skipped, as PBM and mongorestore skip them.
  if (fromMigrate(e)) return;
  const meta = txnMeta(e);
  if (!meta) {
    if (e.op === 'c' && Array.isArray((e.doc.o as Document).applyOps)) {
      for (const inner of innerOps(e)) await applier.apply(inner);
    } else {
      await applier.apply(e);
    }
    return;
  }
  if (meta.abort) {
    drop(state, meta.key);
    return;
  }
  if (meta.data) hold(state, meta.key, e);
  if (!meta.commit) return;
  const held = state.pending.get(meta.key) ?? [];
  drop(state, meta.key);
  for (const raw of held) {
    // Decoded again only now: held transactions cost their raw size in memory.
    const entry = parseEntry(raw, `a transaction entry held until ${timeText(e.ts)}`);
    for (const inner of innerOps(entry)) await applier.apply(inner);
  }
}

function innerOps(e: OplogEntry): OplogEntry[] {
  return ((e.doc.o as Document).applyOps as Document[]).map((d) => nestedEntry(d, e)).filter((inner) => !fromMigrate(inner));
}

function fromMigrate(e: OplogEntry): boolean {
  return e.doc.fromMigrate === true;
}

function hold(state: ReplayState, key: string, e: OplogEntry): void {
  const list = state.pending.get(key) ?? [];
  list.push(Buffer.from(e.raw));
  state.pending.set(key, list);
  state.pendingBytes += e.raw.length;
  if (state.pendingBytes > MAX_PENDING_TXN_BYTES) {
    throw new DbBackupError('E_TOO_LARGE', `The oplog holds over ${MAX_PENDING_TXN_BYTES >> 20} MiB of transactions not yet committed at ${timeText(e.ts)}; the replay does not hold more in memory.`);
  }
}

function drop(state: ReplayState, key: string): void {
  for (const raw of state.pending.get(key) ?? []) state.pendingBytes -= raw.length;
  state.pending.delete(key);
}
