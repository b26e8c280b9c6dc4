import type { FileHandle } from 'node:fs/promises';
import { validPageSize } from './sqlite-page-map.js';

/**
 * Reads a SQLite write-ahead log the way SQLite's own recovery does (https://sqlite.org/fileformat2.html#walformat):
 * a 32-byte header, then frames of a 24-byte header and one page. A frame counts only when its salts
 * match the header's and its checksum continues the running checksum of every frame before it; a
 * frame whose header names a database size (nTruncate > 0) commits the frames since the last commit.
 * So a frame still being written, or left from an earlier cycle of the file, ends the log here.
 */
export interface WalHeader {
  bigEndian: boolean;
  pageSize: number;
  /** Checkpoint sequence as the connection that wrote the header counted it (0 before any restart; not comparable across processes). */
  sequence: number;
  salt1: number;
  salt2: number;
  /** Checksum of the header (the seed of frame 1's). */
  cksum: [number, number];
}

/** A committed transaction: the newest image of each page it wrote, and the database size after it. */
export interface WalCommit {
  /** Database size in pages after the commit. */
  pageCount: number;
  pages: Map<number, Buffer>;
}

/** Where reading stopped: after `frame` frames (the last a commit), with the running checksum there. */
export interface WalCursor {
  salt1: number;
  salt2: number;
  frame: number;
  cksum: [number, number];
}

export const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
/** Frames read per file read: bounds memory while catching up on a long log. */
const READ_FRAMES = 256;

export function parseWalHeader(buf: Buffer): WalHeader | undefined {
  if (buf.length < WAL_HEADER_BYTES) return undefined;
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined;
  const bigEndian = magic === 0x377f0683;
  const pageSize = buf.readUInt32BE(8) === 1 ? 65536 : buf.readUInt32BE(8);
  if (buf.readUInt32BE(4) !== 3007000 || !validPageSize(pageSize)) return undefined;
  const cksum = walChecksum(bigEndian, buf.subarray(0, 24), [0, 0]);
  if (cksum[0] !== buf.readUInt32BE(24) || cksum[1] !== buf.readUInt32BE(28)) return undefined;
  return { bigEndian, pageSize, sequence: buf.readUInt32BE(12), salt1: buf.readUInt32BE(16), salt2: buf.readUInt32BE(20), cksum };
}

/** SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `seed`. */
export function walChecksum(bigEndian: boolean, data: Buffer, seed: [number, number]): [number, number] {
  let s0 = seed[0];
  let s1 = seed[1];
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

export async function readWalHeader(handle: FileHandle): Promise<WalHeader | undefined> {
  const buf = Buffer.alloc(WAL_HEADER_BYTES);
  const { bytesRead } = await handle.read(buf, 0, WAL_HEADER_BYTES, 0);
  return parseWalHeader(buf.subarray(0, bytesRead));
}

export function cursorAtStart(header: WalHeader): WalCursor {
  return { salt1: header.salt1, salt2: header.salt2, frame: 0, cksum: header.cksum };
}

/**
 * Reads the commits after `cursor` in the log `handle` (whose header is `header`), at most
 * `maxBytes` of pages (at least one commit), calling `onCommit` for each; returns the cursor after
 * the last whole commit read. Frames after the last commit (a transaction still being written)
 * are left for the next call.
 */
export async function readCommits(
  handle: FileHandle,
  header: WalHeader,
  cursor: WalCursor,
  onCommit: (commit: WalCommit, end: WalCursor) => void,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<WalCursor> {
  const frameBytes = FRAME_HEADER_BYTES + header.pageSize;
  // Most calls find nothing new (or a stale frame of an earlier cycle): one frame header says so.
  const peek = Buffer.alloc(FRAME_HEADER_BYTES);
  const first = await handle.read(peek, 0, FRAME_HEADER_BYTES, WAL_HEADER_BYTES + cursor.frame * frameBytes);
  if (first.bytesRead < FRAME_HEADER_BYTES || peek.readUInt32BE(8) !== cursor.salt1 || peek.readUInt32BE(12) !== cursor.salt2) return cursor;
  const buf = Buffer.alloc(frameBytes * READ_FRAMES);
  let committed = cursor;
  let frame = cursor.frame;
  let cksum = cursor.cksum;
  let pending = new Map<number, Buffer>();
  let read = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, WAL_HEADER_BYTES + frame * frameBytes);
    const frames = Math.floor(bytesRead / frameBytes);
    for (let i = 0; i < frames; i++) {
      const f = buf.subarray(i * frameBytes, (i + 1) * frameBytes);
      if (f.readUInt32BE(8) !== cursor.salt1 || f.readUInt32BE(12) !== cursor.salt2) return committed;
      cksum = walChecksum(header.bigEndian, f.subarray(0, 8), cksum);
      cksum = walChecksum(header.bigEndian, f.subarray(FRAME_HEADER_BYTES), cksum);
      if (cksum[0] !== f.readUInt32BE(16) || cksum[1] !== f.readUInt32BE(20)) return committed;
      frame++;
      pending.set(f.readUInt32BE(0), Buffer.from(f.subarray(FRAME_HEADER_BYTES)));
      const pageCount = f.readUInt32BE(4);
      if (pageCount > 0) {
        committed = { salt1: cursor.salt1, salt2: cursor.salt2, frame, cksum };
        read += pending.size * header.pageSize;
        onCommit({ pageCount, pages: pending }, committed);
        pending = new Map();
        if (read >= maxBytes) return committed;
      }
    }
    if (frames < READ_FRAMES) return committed;
  }
}

/** A cursor as a manifest position (JSON): salts and checksum in hex, so equal cursors compare equal. */
export function cursorToPosition(c: WalCursor): { wal: string; frame: number; cksum: string } {
  return { wal: `${hex(c.salt1)}${hex(c.salt2)}`, frame: c.frame, cksum: `${hex(c.cksum[0])}${hex(c.cksum[1])}` };
}

export function positionToCursor(p: unknown): WalCursor | undefined {
  const v = p as { wal?: unknown; frame?: unknown; cksum?: unknown } | null;
  if (!v || typeof v.wal !== 'string' || typeof v.cksum !== 'string' || typeof v.frame !== 'number') return undefined;
  if (!/^[0-9a-f]{16}$/.test(v.wal) || !/^[0-9a-f]{16}$/.test(v.cksum) || !Number.isInteger(v.frame) || v.frame < 0) return undefined;
  const n = (s: string, i: number) => Number.parseInt(s.slice(i, i + 8), 16);
  return { salt1: n(v.wal, 0), salt2: n(v.wal, 8), frame: v.frame, cksum: [n(v.cksum, 0), n(v.cksum, 8)] };
}

const hex = (n: number) => n.toString(16).padStart(8, '0');
