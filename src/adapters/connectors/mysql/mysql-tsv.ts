/**
 * The data format of MySQL parts: exactly what `SELECT … INTO OUTFILE` writes and `LOAD DATA …
 * CHARACTER SET binary` reads with the default options — fields split by TAB, rows by LF, NULL as
 * `\N`, and `\`, TAB, LF and NUL escaped as `\\`, `\t`, `\n`, `\0`. Values are the server's raw bytes
 * in each column's own character set, so nothing is converted on the way out or in.
 */
export const LOAD_DATA_OPTIONS = "CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'";

const TAB = 0x09;
const LF = 0x0a;
const BACKSLASH = 0x5c;
const NUL = 0x00;
const CHUNK = 256 * 1024;
/**
 * Chunks are cut from slabs of this size, one after the other: a row never waits for a copy of
 * what is pending (a grown buffer), and there is one allocation per few chunks.
 */
const SLAB = 1024 * 1024;

/** Values at least this long are copied in runs (see nextEscape); shorter ones byte by byte. */
const RUN_MIN = 32;
/** Runs at least this long are copied with Buffer.copy, shorter ones by a loop (see copyRun). */
const COPY_MIN = 64;
const found = (at: number): number => (at < 0 ? Infinity : at);

/** Bytes the format escapes, and what follows the backslash for each (0 = copied as is). */
const ESCAPE = new Uint8Array(256);
ESCAPE[BACKSLASH] = BACKSLASH;
ESCAPE[TAB] = 0x74; // t
ESCAPE[LF] = 0x6e; // n
ESCAPE[NUL] = 0x30; // 0

/** Encodes rows into chunks of about 256 KiB, handed to `emit` as they fill. */
export class TsvEncoder {
  private buf = Buffer.allocUnsafe(SLAB);
  /** The pending chunk is buf[start, pos). */
  private start = 0;
  /** nextEscape's source buffer and the next position of each escaped byte in it (-1: not searched). */
  private source: Buffer | undefined;
  private nextNul = -1;
  private nextTab = -1;
  private nextLf = -1;
  private nextBackslash = -1;
  private pos = 0;
  /** Bytes encoded so far (emitted or pending). */
  bytes = 0;

  constructor(private readonly emit: (chunk: Buffer) => void) {}

  row(values: (Buffer | null)[]): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const need = (v === null ? 2 : v.length * 2) + 1;
      if (this.pos + need > this.buf.length) this.room(need);
      if (i > 0) this.buf[this.pos++] = TAB;
      if (v === null) {
        this.buf[this.pos++] = BACKSLASH;
        this.buf[this.pos++] = 0x4e; // N
      } else if (v.length > 64 && v.indexOf(BACKSLASH) < 0 && v.indexOf(TAB) < 0 && v.indexOf(LF) < 0 && v.indexOf(NUL) < 0) {
        this.pos += v.copy(this.buf, this.pos);
      } else {
        this.pos = escapeInto(v, this.buf, this.pos);
      }
    }
    if (this.pos + 1 > this.buf.length) this.room(1);
    this.buf[this.pos++] = LF;
    if (this.pos - this.start >= CHUNK) this.flush();
  }

  /**
   * Encodes one row straight from a text-protocol result row (`buf[start, end)`: per column a
   * length-encoded string, or 0xFB for NULL), with no per-value objects. Returns false (and encodes
   * nothing) if the bytes are not such a row.
   */
  packetRow(buf: Buffer, start: number, end: number): boolean {
    // Worst case every byte doubles, plus a separator per value: reserve once for the whole row.
    const need = (end - start) * 2 + 2;
    if (this.pos + need > this.buf.length) this.room(need);
    const out = this.buf;
    let pos = this.pos;
    let i = start;
    let first = true;
    while (i < end) {
      if (!first) out[pos++] = TAB;
      first = false;
      const b = buf[i]!;
      let len: number;
      if (b < 0xfb) {
        len = b;
        i += 1;
      } else if (b === 0xfb) {
        out[pos++] = BACKSLASH;
        out[pos++] = 0x4e; // N
        i += 1;
        continue;
      } else if (b === 0xfc) {
        len = buf.readUInt16LE(i + 1);
        i += 3;
      } else if (b === 0xfd) {
        len = buf.readUIntLE(i + 1, 3);
        i += 4;
      } else if (b === 0xfe) {
        len = Number(buf.readBigUInt64LE(i + 1));
        i += 9;
      } else {
        return false;
      }
      const stop = i + len;
      if (stop > end) return false;
      // A long value is copied in runs between the bytes to escape, found by native scans.
      while (stop - i >= RUN_MIN) {
        const m = this.nextEscape(buf, i);
        if (m >= stop) {
          pos = copyRun(buf, i, stop, out, pos);
          i = stop;
          break;
        }
        pos = copyRun(buf, i, m, out, pos);
        out[pos++] = BACKSLASH;
        out[pos++] = ESCAPE[buf[m]!]!;
        i = m + 1;
      }
      for (; i < stop; i++) {
        const c = buf[i]!;
        const e = ESCAPE[c]!;
        if (e === 0) {
          out[pos++] = c;
        } else {
          out[pos++] = BACKSLASH;
          out[pos++] = e;
        }
      }
    }
    out[pos++] = LF;
    this.pos = pos;
    if (pos - this.start >= CHUNK) this.flush();
    return true;
  }

  /**
   * The position of the first byte at or after `from` in `src` that the format escapes (Infinity if
   * none). Each of the four bytes' next position is remembered per source buffer and searched again
   * (Buffer.indexOf, a native scan) only once passed: a run of plain text costs a memcpy, not a
   * JavaScript loop. The source's bytes must not change while it is being read (socket chunks do not).
   */
  private nextEscape(src: Buffer, from: number): number {
    if (this.source !== src) {
      this.source = src;
      this.nextNul = this.nextTab = this.nextLf = this.nextBackslash = -1;
    }
    // Four plain fields, not an array: this runs once per long value and V8 keeps them in registers.
    let a = this.nextNul;
    if (a < from) this.nextNul = a = found(src.indexOf(NUL, from));
    let b = this.nextTab;
    if (b < from) this.nextTab = b = found(src.indexOf(TAB, from));
    let c = this.nextLf;
    if (c < from) this.nextLf = c = found(src.indexOf(LF, from));
    let d = this.nextBackslash;
    if (d < from) this.nextBackslash = d = found(src.indexOf(BACKSLASH, from));
    return Math.min(a, b, c, d);
  }

  /** Emits what is pending (call at the end of a part). The chunk is never written again. */
  flush(): void {
    if (this.pos === this.start) return;
    this.bytes += this.pos - this.start;
    this.emit(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
  }

  /** Room for `need` more bytes: what is pending goes out (even mid-row), then a new slab, bigger for a long value. */
  private room(need: number): void {
    this.flush();
    this.buf = Buffer.allocUnsafe(Math.max(SLAB, need));
    this.start = this.pos = 0;
  }
}

/**
 * Copies src[from, to) to out at pos; returns the new pos. Buffer.copy makes a view object per
 * call (Node 20), which costs more than a plain loop for short runs.
 */
function copyRun(src: Buffer, from: number, to: number, out: Buffer, pos: number): number {
  if (to - from >= COPY_MIN) return pos + src.copy(out, pos, from, to);
  for (let i = from; i < to; i++) out[pos++] = src[i]!;
  return pos;
}

function escapeInto(v: Buffer, out: Buffer, start: number): number {
  let pos = start;
  for (let j = 0; j < v.length; j++) {
    const c = v[j]!;
    if (c === BACKSLASH || c === TAB || c === LF || c === NUL) {
      out[pos++] = BACKSLASH;
      out[pos++] = c === NUL ? 0x30 : c === TAB ? 0x74 : c === LF ? 0x6e : BACKSLASH;
    } else {
      out[pos++] = c;
    }
  }
  return pos;
}

/**
 * Decodes the format back into rows of raw values (for the INSERT fallback when the server
 * forbids LOAD DATA LOCAL). Feed chunks in order; `end()` returns the last row if the data did
 * not end with LF.
 */
export class TsvDecoder {
  /** The field being decoded: bytes [0, len) of a buffer that grows as needed. */
  private field = Buffer.allocUnsafe(256);
  private len = 0;
  private fields: (Buffer | null)[] = [];
  private escaped = false;
  private nullMark = false;

  /** Decodes one chunk; calls `onRow` per complete row. Runs of plain bytes are copied at once. */
  push(chunk: Buffer, onRow: (row: (Buffer | null)[]) => void): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.escaped) {
        const c = chunk[i++]!;
        this.escaped = false;
        if (c === 0x4e && this.len === 0) this.nullMark = true;
        else this.append(chunk, i - 1, i, unescapeByte(c));
        continue;
      }
      let j = i;
      while (j < n) {
        const c = chunk[j]!;
        if (c === BACKSLASH || c === TAB || c === LF) break;
        j++;
      }
      if (j > i) this.append(chunk, i, j);
      if (j === n) return;
      const c = chunk[j]!;
      i = j + 1;
      if (c === BACKSLASH) {
        this.escaped = true;
      } else {
        this.endField();
        if (c === LF) {
          onRow(this.fields);
          this.fields = [];
        }
      }
    }
  }

  end(onRow: (row: (Buffer | null)[]) => void): void {
    if (this.len || this.fields.length || this.nullMark) {
      this.endField();
      onRow(this.fields);
      this.fields = [];
    }
  }

  /** Appends chunk[from, to), or the single byte `only` when given. */
  private append(chunk: Buffer, from: number, to: number, only?: number): void {
    const need = this.len + (to - from);
    if (need > this.field.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.field.length * 2));
      this.field.copy(grown, 0, 0, this.len);
      this.field = grown;
    }
    if (only === undefined) this.len += chunk.copy(this.field, this.len, from, to);
    else this.field[this.len++] = only;
  }

  private endField(): void {
    this.fields.push(this.nullMark && this.len === 0 ? null : Buffer.from(this.field.subarray(0, this.len)));
    this.len = 0;
    this.nullMark = false;
    // A very long value should not keep its buffer alive for the rest of the part.
    if (this.field.length > 1 << 20) this.field = Buffer.allocUnsafe(256);
  }
}

function unescapeByte(c: number): number {
  switch (c) {
    case 0x30:
      return NUL;
    case 0x74:
      return TAB;
    case 0x6e:
      return LF;
    case 0x72:
      return 0x0d;
    case 0x62:
      return 0x08;
    case 0x5a:
      return 0x1a;
    default:
      return c;
  }
}
