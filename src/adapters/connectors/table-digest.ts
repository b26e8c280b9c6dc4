import { DbBackupError } from '../../domain/errors.js';

const TWO_32 = 4294967296;
const LF = 0x0a;

/** The two 32-bit halves of the last hash (module state: no allocation per row). */
let outLo = 0;
let outHi = 0;
/** The two lanes while a hash runs (module state, loaded and stored by RowHasher around its updates). */
let h1 = 0;
let h2 = 0;
const SEED1 = 0x9747b28c | 0;
const SEED2 = 0x85ebca6b | 0;

/** One 8-byte block (two little-endian 32-bit words) into the lanes: MurmurHash3's block mixing. */
function mix(k1: number, k2: number): void {
  k1 = Math.imul(k1, 0xcc9e2d51);
  k1 = (k1 << 15) | (k1 >>> 17);
  h1 ^= Math.imul(k1, 0x1b873593);
  h1 = (h1 << 13) | (h1 >>> 19);
  h1 = (h1 + h2) | 0;
  h1 = (Math.imul(h1, 5) + 0x52dce729) | 0;
  k2 = Math.imul(k2, 0x1b873593);
  k2 = (k2 << 17) | (k2 >>> 15);
  h2 ^= Math.imul(k2, 0xcc9e2d51);
  h2 = (h2 << 15) | (h2 >>> 17);
  h2 = (h2 + h1) | 0;
  h2 = (Math.imul(h2, 5) + 0x38495ab5) | 0;
}

/** The last 0–7 bytes b[start, end), the length `n`, and the finalizer: the hash into outLo/outHi. */
function finish(b: Uint8Array, start: number, end: number, n: number): void {
  let k1 = 0;
  let k2 = 0;
  for (let i = start, j = 0; i < end; i++, j++) {
    if (j < 4) k1 |= b[i]! << (8 * j);
    else k2 |= b[i]! << (8 * (j - 4));
  }
  k1 = Math.imul(k1, 0xcc9e2d51);
  k1 = (k1 << 15) | (k1 >>> 17);
  h1 ^= Math.imul(k1, 0x1b873593);
  k2 = Math.imul(k2, 0x1b873593);
  k2 = (k2 << 17) | (k2 >>> 15);
  h2 ^= Math.imul(k2, 0xcc9e2d51);
  h1 ^= n;
  h2 ^= n;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  outLo = h1 >>> 0;
  outHi = h2 >>> 0;
}

/**
 * A 64-bit hash of buf[start, end) into outLo/outHi: two 32-bit multiply-rotate lanes fed 4 bytes
 * each per 8-byte step (MurmurHash3's block mixing), the length, then MurmurHash3's finalizer on
 * both. Not a cryptographic hash: it detects a changed value, not a forged one (a manifest is
 * authenticated by its MAC/signature). Plain JavaScript over the bytes costs ~0.7 ns a byte here,
 * where a sha256 per row (node:crypto, ~3 µs a row) tripled a backup's CPU. `view` is a DataView
 * over `b` (same offsets). RowHasher computes the same hash over bytes that come in pieces.
 */
function rowHash64(b: Uint8Array, view: DataView, start: number, end: number): void {
  // mix() inlined over local lanes: the module's h1/h2 are context slots, a load and a store per
  // use; as locals the loop ran in ~0.6 of the time (100 MB of pgbench rows: 168 against 269 ms).
  let l1 = SEED1;
  let l2 = SEED2;
  let i = start;
  // Little-endian words read through a DataView: a third less CPU than assembling them from bytes.
  for (const blocks = end - ((end - start) & 7); i < blocks; i += 8) {
    let k1 = Math.imul(view.getInt32(i, true), 0xcc9e2d51);
    k1 = (k1 << 15) | (k1 >>> 17);
    l1 ^= Math.imul(k1, 0x1b873593);
    l1 = (l1 << 13) | (l1 >>> 19);
    l1 = (Math.imul((l1 + l2) | 0, 5) + 0x52dce729) | 0;
    let k2 = Math.imul(view.getInt32(i + 4, true), 0x1b873593);
    k2 = (k2 << 17) | (k2 >>> 15);
    l2 ^= Math.imul(k2, 0xcc9e2d51);
    l2 = (l2 << 15) | (l2 >>> 17);
    l2 = (Math.imul((l2 + l1) | 0, 5) + 0x38495ab5) | 0;
  }
  h1 = l1;
  h2 = l2;
  finish(b, i, end, end - start);
}

/**
 * rowHash64 of one row whose bytes come in pieces (a value of any size cut across chunks), in
 * constant memory: the lanes, the length and at most 7 bytes not yet in a block.
 */
class RowHasher {
  private l1 = SEED1;
  private l2 = SEED2;
  private n = 0;
  private readonly pending = new Uint8Array(8);
  private readonly pendingView = new DataView(this.pending.buffer);
  private pendingLength = 0;

  update(b: Uint8Array, view: DataView, start: number, end: number): void {
    h1 = this.l1;
    h2 = this.l2;
    this.n += end - start;
    let i = start;
    if (this.pendingLength > 0) {
      while (this.pendingLength < 8 && i < end) this.pending[this.pendingLength++] = b[i++]!;
      if (this.pendingLength === 8) {
        mix(this.pendingView.getInt32(0, true), this.pendingView.getInt32(4, true));
        this.pendingLength = 0;
      }
    }
    if (this.pendingLength === 0) {
      for (const blocks = end - ((end - i) & 7); i < blocks; i += 8) mix(view.getInt32(i, true), view.getInt32(i + 4, true));
      while (i < end) this.pending[this.pendingLength++] = b[i++]!;
    }
    this.l1 = h1;
    this.l2 = h2;
  }

  /** The row's hash into outLo/outHi; the hasher starts over. */
  end(): void {
    h1 = this.l1;
    h2 = this.l2;
    finish(this.pending, 0, this.pendingLength, this.n);
    this.l1 = SEED1;
    this.l2 = SEED2;
    this.n = 0;
    this.pendingLength = 0;
  }
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * An order-independent digest of a table's rows: each row's canonical bytes are hashed to 64 bits
 * (rowHash64) and the hashes added up modulo 2^64, so rows may stream in any order, from several
 * readers at once (`merge`), in constant memory; a row present twice counts twice (unlike XOR).
 * The canonical bytes are the engine's own: PostgreSQL's COPY text line of the row, MySQL's TSV
 * line of its data parts (mysql-tsv.ts), SQLite's `rowText`. A backup records this digest as it
 * dumps (ObjectEntry.contentHash), and `compare` / `verify --deep` compute it again from a live
 * database, so the two must stay one definition: change it only with a new manifest field.
 */
export class RowDigest {
  rows = 0;
  private lo = 0;
  private hi = 0;

  /** One row, as its canonical bytes (a string is taken as UTF-8). */
  add(row: Uint8Array | string): void {
    const b = typeof row === 'string' ? Buffer.from(row, 'utf8') : row;
    this.addRange(b, 0, b.length);
  }

  /** One row: the bytes buf[start, end); `view`, a DataView over all of `buf`, saves making one per row. */
  addRange(buf: Uint8Array, start: number, end: number, view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)): void {
    rowHash64(buf, view, start, end);
    this.sum(outLo, outHi);
    this.rows++;
  }

  /** One row hashed in pieces by `hasher` (its end() is called here). */
  addFrom(hasher: RowHasher): void {
    hasher.end();
    this.sum(outLo, outHi);
    this.rows++;
  }

  /** Adds another digest's rows (the same table read in ranges by several connections). */
  merge(other: RowDigest): void {
    this.sum(other.lo, other.hi);
    this.rows += other.rows;
  }

  /** 16 hex digits: the 64-bit sum, high half first. */
  get hash(): string {
    return `${this.hi.toString(16).padStart(8, '0')}${this.lo.toString(16).padStart(8, '0')}`;
  }

  private sum(lo: number, hi: number): void {
    let l = this.lo + lo;
    let h = this.hi + hi;
    if (l >= TWO_32) {
      l -= TWO_32;
      h += 1;
    }
    this.lo = l;
    this.hi = h >>> 0;
  }
}

/**
 * Feeds a RowDigest from a text stream of one row per line (COPY text, MySQL TSV: a newline inside
 * a value is escaped), chunk by chunk: each line without its LF is one row. A line cut by a chunk's
 * end is carried to the next; `end()` takes a last line that has no LF.
 */
export class LineDigest {
  /** A line cut by a chunk's end is hashed on in the next chunks, never held: a value of any size costs no memory. */
  private readonly open = new RowHasher();
  private carrying = false;

  constructor(readonly digest = new RowDigest()) {}

  push(chunk: Buffer): void {
    let start = 0;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carrying) {
      const nl = chunk.indexOf(LF);
      if (nl < 0) {
        this.open.update(chunk, view, 0, chunk.length);
        return;
      }
      this.open.update(chunk, view, 0, nl);
      this.digest.addFrom(this.open);
      this.carrying = false;
      start = nl + 1;
    }
    for (let nl = chunk.indexOf(LF, start); nl >= 0; nl = chunk.indexOf(LF, start)) {
      this.digest.addRange(chunk, start, nl, view);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.open.update(chunk, view, start, chunk.length);
      this.carrying = true;
    }
  }

  end(): RowDigest {
    if (this.carrying) {
      this.digest.addFrom(this.open);
      this.carrying = false;
    }
    return this.digest;
  }
}

/** Passes `source`'s chunks on unchanged, feeding each to `lines` first. */
export async function* digestLines(source: AsyncIterable<Buffer>, lines: LineDigest): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    lines.push(chunk);
    yield chunk;
  }
  lines.end();
}

/**
 * One row's canonical text from driver values (SQLite, MySQL): each value typed and length-prefixed,
 * so that NULL, '' and 'NULL', 1 and '1', blobs and text, and ('a', 'b') and ('a\0b') never meet.
 */
export function rowText(values: readonly unknown[]): string {
  return values.map(valueText).join('');
}

function valueText(v: unknown): string {
  const [tag, body] = typed(v);
  return `${tag}${body.length}:${body}`;
}

function typed(v: unknown): [string, string] {
  if (v === null || v === undefined) return ['n', ''];
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return ['x', Buffer.from(v).toString('hex')];
  if (typeof v === 'bigint') return ['i', v.toString()];
  if (typeof v === 'number') return ['f', String(v)];
  if (v instanceof Date) return ['d', v.toISOString()];
  if (typeof v === 'object') return ['j', JSON.stringify(v)];
  return ['s', String(v)];
}

/** Refuses names in `chosen` that are not tables of the database (E_USAGE), else returns the chosen ones (all when undefined). */
export function chooseTables(all: string[], chosen: string[] | undefined, where: string, matches = (name: string, wanted: string) => name === wanted): string[] {
  if (!chosen) return all;
  const unknown = chosen.filter((c) => !all.some((t) => matches(t, c)));
  if (unknown.length) throw new DbBackupError('E_USAGE', `${where} has no table ${unknown.join(', ')}.`);
  return all.filter((t) => chosen.some((c) => matches(t, c)));
}
