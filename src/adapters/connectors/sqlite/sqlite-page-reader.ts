import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { childProcess } from '../../../infrastructure/builtins.js';
import { ChunkReader } from '../../../infrastructure/chunk-reader.js';
import { DbBackupError } from '../../../domain/errors.js';
import { FAST_HASH_WASM } from './sqlite-fast-hash.js';
import type { MapFile } from './sqlite-map-file.js';

/**
 * The helper process that reads a live database's files for withLiveSnapshot. It runs apart
 * because closing a descriptor of a file drops every POSIX lock its process holds on that file:
 * a read of the database, -wal or -shm file in this process would drop the locks of any SQLite
 * connection here on it (a scheduler worker's, a replicator's), and with them what keeps a
 * checkpoint from overwriting what those connections read. The helper holds no lock to drop.
 *
 * Protocol: it writes "R" when ready. Line `shm` → the first 136 bytes of the -shm file (zeros when
 * missing). Line `read <pageSize> <pageCount> <nBackfill> <mxFrame> <salt hex>` → pages
 * 1..pageCount of the database file, each overlaid with the newest of WAL frames
 * nBackfill+1..mxFrame that holds it; then it exits 0, or 2 with the reason on stderr.
 * Line `diff <pageSize> <pageCount> <nBackfill> <mxFrame> <salt hex> <since> <parentCount> <k> <map path hex> <sha>`
 * followed by k bytes (none, or the fast-hash key) names the parent's map, a file of parentCount ×
 * 16 bytes (with a key its fast map, else its page map: 16 bytes of each page's sha256), read a
 * window at a time as the pages go by (memory does not grow with the page count) → the pages of that same
 * snapshot that changed, in batches `u32 n | n × (u32 pgno | 16-byte sha256 | 16-byte fast hash) |
 * n × (u32 pgno | page)`, then `u32 0 | u32 pages examined | u32 1 when only WAL pages were`. A page
 * changed when its fast hash differs from the fast map's (with a fast map; its sha256 field is then
 * zeros unless <sha> is 1),
 * else when its sha256 differs from the page map's (the fast hash is then zeros), or when the maps
 * lack it. With since >= 0 the pages examined are those of WAL frames since+1..mxFrame (the caller
 * vouches that the WAL was not restarted since frame `since` was read), else every page. Hashing in
 * the helper uses a second core and keeps unchanged pages off the pipe.
 */
const SOURCE = String.raw`
const fs = require('node:fs');
const crypto = require('node:crypto');
const path = process.argv[1];
const fail = (why) => { process.stderr.write(why); process.exit(2); };
// Blocking writes of one reused buffer: the process stays at its start-up size (a fresh megabyte per
// chunk let the heap grow by tens of MB before a collection). fd 1 is made blocking with process.stdout.
const write = (buf) => { for (let done = 0; done < buf.length; ) done += fs.writeSync(1, buf, done); };
// The fast hash (sqlite-fast-hash.ts): pages are read straight into the module's memory, hashed a run at a time.
const nhModule = new WebAssembly.Module(Buffer.from('${FAST_HASH_WASM.toString('base64')}', 'base64'));
function fastHasher(pageSize, per, key) {
  const keyRoom = 65536 + 64;
  const mem = new WebAssembly.Memory({ initial: Math.ceil((keyRoom + per * (pageSize + 16)) / 65536) });
  const nh = new WebAssembly.Instance(nhModule, { m: { mem } }).exports.nh;
  const buf = Buffer.from(mem.buffer);
  key.copy(buf, 0);
  const hashesAt = keyRoom + per * pageSize;
  // words: the hashes as 32-bit words (hashesAt is a multiple of 4), compared without a native call per page.
  const words = new Uint32Array(mem.buffer, hashesAt, per * 4);
  return { pages: buf.subarray(keyRoom, hashesAt), hashes: buf.subarray(hashesAt), words, run: (count) => nh(0, keyRoom, pageSize, count, hashesAt) };
}
const sha256 = typeof crypto.hash === 'function' ? (b) => crypto.hash('sha256', b, 'buffer') : (b) => crypto.createHash('sha256').update(b).digest();
// Frames from+1..mxFrame (from = min(nBackfill, since)): the newest frame of each page past nBackfill
// (overlay), and the pages of the frames past since (touched; undefined when since < 0).
function walFrames(pageSize, nBackfill, mxFrame, salt, since) {
  const overlay = new Map();
  const touched = since >= 0 ? new Set() : undefined;
  const from = since >= 0 ? Math.min(nBackfill, since) : nBackfill;
  if (mxFrame <= from) return { overlay, touched };
  const wal = fs.openSync(path + '-wal', 'r');
  const frameBytes = 24 + pageSize;
  const per = Math.max(1, Math.floor((1 << 20) / frameBytes));
  const buf = Buffer.alloc(per * frameBytes);
  for (let first = from + 1; first <= mxFrame; first += per) {
    const count = Math.min(per, mxFrame - first + 1);
    const at = 32 + (first - 1) * frameBytes;
    if (fs.readSync(wal, buf, 0, count * frameBytes, at) < count * frameBytes) fail('the WAL is shorter than its index says');
    for (let i = 0; i < count; i++) {
      const f = i * frameBytes;
      if (buf.toString('hex', f + 8, f + 16) !== salt) fail('a WAL frame has a foreign salt');
      const pgno = buf.readUInt32BE(f);
      if (first + i > nBackfill) overlay.set(pgno, { fd: wal, at: at + f + 24 });
      if (touched && first + i > since) touched.add(pgno);
    }
  }
  return { overlay, touched };
}
// Pages first..first+count-1 into chunk: the file's bytes overlaid with the WAL's; fails when a page is in neither.
function readRun(db, overlay, pending, cursor, chunk, first, count, pageSize, pageCount) {
  // Only the bytes past the file's end are zeroed (a megabyte's memset per run would cost as much as the NH hash).
  const got = fs.readSync(db, chunk, 0, count * pageSize, (first - 1) * pageSize);
  if (got < count * pageSize) chunk.fill(0, got, count * pageSize);
  const filled = Math.floor(got / pageSize);
  let fromWal = 0;
  for (; cursor.next < pending.length && pending[cursor.next] < first + count; cursor.next++) {
    const pgno = pending[cursor.next];
    if (pgno < first) continue;
    const { fd, at } = overlay.get(pgno);
    if (fs.readSync(fd, chunk, (pgno - first) * pageSize, pageSize, at) !== pageSize) fail('page ' + pgno + ' of the WAL could not be read whole');
    if (pgno - first >= filled) fromWal++;
  }
  if (filled + fromWal < count) fail('the database file ends before page ' + (first + filled) + ' of ' + pageCount + ' and the WAL does not hold it');
}
function read(pageSize, pageCount, nBackfill, mxFrame, salt) {
  const { overlay } = walFrames(pageSize, nBackfill, mxFrame, salt, -1);
  const pending = [...overlay.keys()].sort((a, b) => a - b);
  const db = fs.openSync(path, 'r');
  const per = Math.max(1, Math.floor((1 << 20) / pageSize));
  const cursor = { next: 0 };
  const whole = Buffer.alloc(per * pageSize);
  for (let first = 1; first <= pageCount; first += per) {
    const count = Math.min(per, pageCount - first + 1);
    readRun(db, overlay, pending, cursor, whole, first, count, pageSize, pageCount);
    write(whole.subarray(0, count * pageSize));
  }
  process.stdin.destroy();
}
// The pages whose fast hash (with a fast map) or sha256 (first 16 bytes) differs from the parent's
// map, or that it lacks: every page is hashed, or with since >= 0 only those of the WAL frames
// written after frame since.
// The parent's map file, read forward through a window of 65536 entries.
function mapWindow(file, count) {
  const fd = fs.openSync(file, 'r');
  const words = new Uint32Array(Math.min(65536, Math.max(1, count)) * 4);
  const buf = Buffer.from(words.buffer);
  let first = 0;
  let n = 0;
  // The offset in buf of page pgno's entry (1 <= pgno <= count).
  const at = (pgno) => {
    if (pgno < first || pgno >= first + n) {
      n = Math.min(buf.length / 16, count - pgno + 1);
      if (fs.readSync(fd, buf, 0, n * 16, (pgno - 1) * 16) !== n * 16) fail('the parent map file is shorter than its page count');
      first = pgno;
    }
    return (pgno - first) * 16;
  };
  return { buf, words, at };
}
function diff(pageSize, pageCount, nBackfill, mxFrame, salt, since, parentCount, key, mapFile, withSha) {
  const { overlay, touched } = walFrames(pageSize, nBackfill, mxFrame, salt, since);
  const parentMap = mapWindow(mapFile, parentCount);
  let candidates;
  if (touched) {
    candidates = [...touched].filter((p) => p <= pageCount).sort((a, b) => a - b);
    // A page past the parent's end that no frame wrote cannot happen in WAL mode: compare every page then.
    const added = candidates.filter((p) => p > parentCount).length;
    if (added !== Math.max(0, pageCount - parentCount)) candidates = undefined;
  }
  // Without a WAL read mark (every frame was in the file) the WAL may restart under us: the frames read
  // are ours only if the wal-index still has our salt after reading them (a restart changes it first).
  if (candidates && !walIndexSalts().every((s) => s === salt)) candidates = undefined;
  const pending = [...overlay.keys()].sort((a, b) => a - b);
  const db = fs.openSync(path, 'r');
  const per = Math.max(1, Math.floor((1 << 20) / pageSize));
  const fast = key.length ? fastHasher(pageSize, per, key) : undefined;
  const whole = fast ? fast.pages : Buffer.alloc(per * pageSize);
  // A batch: u32 n | n x (u32 pgno | 16-byte sha256 | 16-byte fast hash) | n x (u32 pgno | page),
  // the last part laid out as the pages part stores it, so the caller passes it on without a copy.
  const meta = Buffer.alloc(4 + per * 36);
  const records = Buffer.alloc(per * (4 + pageSize));
  let n = 0;
  const flush = () => {
    if (!n) return;
    meta.writeUInt32BE(n, 0);
    write(meta.subarray(0, 4 + n * 36));
    write(records.subarray(0, n * (4 + pageSize)));
    n = 0;
  };
  // Page k of the run in whole, numbered pgno.
  const consider = (pgno, k) => {
    const known = pgno <= parentCount;
    const old = known ? parentMap.at(pgno) : -1;
    if (fast && known) {
      const a = fast.words;
      const b = parentMap.words;
      const i = k * 4;
      const j = old / 4;
      if (a[i] === b[j] && a[i + 1] === b[j + 1] && a[i + 2] === b[j + 2] && a[i + 3] === b[j + 3]) return;
    }
    // Made only for pages hashed further (no object per unchanged page).
    const page = whole.subarray(k * pageSize, (k + 1) * pageSize);
    // With a fast map the link records no sha256 map (unless asked): the changed pages get none.
    const hash = fast && !withSha ? undefined : sha256(page);
    if (!fast && known && hash.compare(parentMap.buf, old, old + 16, 0, 16) === 0) return;
    const m = 4 + n * 36;
    meta.writeUInt32BE(pgno, m);
    if (hash) hash.copy(meta, m + 4, 0, 16);
    else meta.fill(0, m + 4, m + 20);
    if (fast) fast.hashes.copy(meta, m + 20, k * 16, k * 16 + 16);
    else meta.fill(0, m + 20, m + 36);
    const r = n * (4 + pageSize);
    records.writeUInt32BE(pgno, r);
    page.copy(records, r + 4);
    if (++n === per) flush();
  };
  const cursor = { next: 0 };
  if (candidates) {
    // Runs of consecutive candidates are read at once.
    for (let i = 0; i < candidates.length; ) {
      let j = i + 1;
      while (j < candidates.length && j - i < per && candidates[j] === candidates[j - 1] + 1) j++;
      const first = candidates[i];
      while (cursor.next < pending.length && pending[cursor.next] < first) cursor.next++;
      readRun(db, overlay, pending, cursor, whole, first, j - i, pageSize, pageCount);
      fast?.run(j - i);
      for (let k = 0; k < j - i; k++) consider(first + k, k);
      i = j;
    }
  } else {
    for (let first = 1; first <= pageCount; first += per) {
      const count = Math.min(per, pageCount - first + 1);
      readRun(db, overlay, pending, cursor, whole, first, count, pageSize, pageCount);
      fast?.run(count);
      for (let k = 0; k < count; k++) consider(first + k, k);
    }
  }
  flush();
  const end = Buffer.alloc(12);
  end.writeUInt32BE(candidates ? candidates.length : pageCount, 4);
  end.writeUInt32BE(candidates ? 1 : 0, 8);
  write(end);
  process.stdin.destroy();
}
function shmHeader() {
  const buf = Buffer.alloc(136);
  try { const fd = fs.openSync(path + '-shm', 'r'); fs.readSync(fd, buf, 0, 136, 0); fs.closeSync(fd); } catch { buf.fill(0); }
  return buf;
}
// The salt of both copies of the wal-index header.
function walIndexSalts() {
  const h = shmHeader();
  return [h.toString('hex', 32, 40), h.toString('hex', 80, 88)];
}
// Input chunks are joined only once a whole command (a diff's map included) may have arrived: a
// join per 64 KiB chunk would copy a large map over and over.
let parts = [];
let total = 0;
let need = 1;
process.stdin.on('data', (d) => {
  parts.push(d);
  total += d.length;
  if (total < need) return;
  let input = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  need = 1;
  for (let nl; (nl = input.indexOf(10)) >= 0; ) {
    const [cmd, ...a] = input.toString('latin1', 0, nl).split(' ');
    const bodyLength = cmd === 'diff' ? Number(a[7]) : 0;
    if (input.length < nl + 1 + bodyLength) { need = nl + 1 + bodyLength; break; }
    const body = input.subarray(nl + 1, nl + 1 + bodyLength);
    input = input.subarray(nl + 1 + body.length);
    if (cmd === 'shm') {
      process.stdout.write(shmHeader());
    } else {
      const n = a.slice(0, 4).map(Number);
      try {
        if (cmd === 'read') read(n[0], n[1], n[2], n[3], a[4]);
        else if (cmd === 'diff') diff(n[0], n[1], n[2], n[3], a[4], Number(a[5]), Number(a[6]), body, Buffer.from(a[8], 'hex').toString(), a[9] === '1');
      } catch (e) { fail(String(e && e.message)); }
    }
  }
  parts = input.length ? [input] : [];
  total = input.length;
});
process.stdin.on('end', () => { if (!process.exitCode) process.stdin.destroy(); });
process.stdout._handle?.setBlocking?.(true);
process.stdout.write('R');
`;

/** The WAL frames a snapshot sees: nBackfill+1..mxFrame, with the salt of their generation. */
export interface WalRange {
  nBackfill: number;
  mxFrame: number;
  salt: Buffer;
}

/** Pages that differ from the parent's maps, in page order. */
export interface ChangedPages {
  /** n × (u32 pgno | first 16 bytes of the page's sha256 | its 16-byte fast hash, zeros without a fast map). */
  meta: Buffer;
  /** n × (u32 pgno | page), laid out as the pages part stores them, in one or more pieces. */
  records: Buffer[];
}

export const CHANGE_META_BYTES = 36;

/** How a diff went: how many pages were hashed, and whether they were only the WAL's since the parent. */
export interface ChangeScan {
  examined: number;
  walOnly: boolean;
}

/** A running page reader: ask for the -shm header, then stream the pages. */
export class PageReaderProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly out: ChunkReader;
  private held: Buffer = Buffer.alloc(0);
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(path: string) {
    this.child = childProcess().spawn(process.execPath, ['-e', SOURCE, path], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => resolve(code));
      this.child.on('error', () => resolve(-1));
    });
    this.out = new ChunkReader(this.child.stdout);
  }

  /** Starts the reader for the database at `path` and waits until it is ready. */
  static async start(path: string): Promise<PageReaderProcess> {
    const reader = new PageReaderProcess(path);
    try {
      if ((await reader.take(1))[0] !== 0x52) throw new Error('the page reader printed something else than its ready mark');
      return reader;
    } catch (err) {
      reader.stop();
      throw err;
    }
  }

  /** The first 136 bytes of the -shm file (the wal-index header and checkpoint info), zeros when there is none. */
  async shmHeader(): Promise<Buffer> {
    this.child.stdin.write('shm\n');
    return this.take(136);
  }

  /** The snapshot's pages (see the protocol above), in chunks of whole pages. */
  async *pages(pageSize: number, pageCount: number, wal: WalRange | undefined, signal: AbortSignal): AsyncGenerator<Buffer> {
    const w = wal ?? { nBackfill: 0, mxFrame: 0, salt: Buffer.alloc(8) };
    this.child.stdin.write(`read ${pageSize} ${pageCount} ${w.nBackfill} ${w.mxFrame} ${w.salt.toString('hex')}\n`);
    let left = pageCount * pageSize;
    while (left > 0) {
      signal.throwIfAborted();
      const want = Math.min(left, 1 << 20);
      let chunk = await this.take(want, true);
      while (chunk.length < pageSize) chunk = Buffer.concat([chunk, await this.take(want - chunk.length, true)]);
      const whole = chunk.length - (chunk.length % pageSize);
      if (whole < chunk.length) this.held = Buffer.concat([chunk.subarray(whole), this.held]);
      left -= whole;
      yield chunk.subarray(0, whole);
    }
    const code = await this.exited;
    if (code !== 0) throw this.failure(code);
  }

  /** The snapshot's pages that differ from `parent` (a fast map file when it has a key, else a page map file; see `diff` above), in batches. */
  async *changes(
    pageSize: number,
    pageCount: number,
    wal: WalRange | undefined,
    since: number,
    parent: MapFile,
    signal: AbortSignal,
    withSha = false,
  ): AsyncGenerator<ChangedPages, ChangeScan> {
    const w = wal ?? { nBackfill: 0, mxFrame: 0, salt: Buffer.alloc(8) };
    const key = parent.key ?? Buffer.alloc(0);
    const file = Buffer.from(parent.path).toString('hex');
    this.child.stdin.write(`diff ${pageSize} ${pageCount} ${w.nBackfill} ${w.mxFrame} ${w.salt.toString('hex')} ${since} ${parent.pageCount} ${key.length} ${file} ${withSha ? 1 : 0}\n`);
    this.child.stdin.write(key);
    const record = 4 + pageSize;
    for (;;) {
      signal.throwIfAborted();
      const n = (await this.take(4)).readUInt32BE(0);
      if (n === 0) {
        const end = await this.take(8);
        const code = await this.exited;
        if (code !== 0) throw this.failure(code);
        return { examined: end.readUInt32BE(0), walOnly: end.readUInt32BE(4) === 1 };
      }
      if (n > (1 << 20) / 512) throw this.failure(null);
      const meta = Buffer.concat(await this.pieces(n * CHANGE_META_BYTES));
      yield { meta, records: await this.pieces(n * record) };
    }
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }

  /** Waits until at least `n` bytes are held. */
  private async fill(n: number): Promise<void> {
    while (this.held.length < n) {
      const next = await this.out.next().catch(() => undefined);
      if (!next) throw this.failure(await this.exited);
      this.held = this.held.length ? Buffer.concat([this.held, next]) : next;
    }
  }

  /** The next `n` bytes, as the pieces of the chunks they arrived in (no copy). */
  private async pieces(n: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    while (n > 0) {
      await this.fill(1);
      const k = Math.min(n, this.held.length);
      out.push(this.held.subarray(0, k));
      this.held = this.held.subarray(k);
      n -= k;
    }
    return out;
  }

  /** `n` bytes exactly, or with `upTo` whatever arrived next (at most `n`). */
  private async take(n: number, upTo = false): Promise<Buffer> {
    await this.fill(upTo ? 1 : n);
    const size = Math.min(n, this.held.length);
    const out = this.held.subarray(0, size);
    this.held = this.held.subarray(size);
    return out;
  }

  private failure(code: number | null): DbBackupError {
    return new DbBackupError('E_BACKUP_FAILED', `Reading the database's pages failed (${this.stderr.trim() || `the reader exited with ${String(code)}`}); retry the backup.`);
  }
}
