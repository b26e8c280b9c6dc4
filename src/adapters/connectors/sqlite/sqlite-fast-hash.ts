import { randomBytes } from 'node:crypto';

/**
 * The change-detection hash of a page: NH, the universal hash of UMAC (Black, Halevi, Krawczyk,
 * Krovetz, Rogaway 1999), with 32-bit words, in two Toeplitz instances, under a random key of
 * pageSize + 32 bytes drawn for each chain (each full) and stored only inside its fast map part.
 * Per 32-byte block at byte i (words w[0..7], key words k from byte i, k' from byte i + 32):
 *
 *   A += Σ_{j<4} ((w[j] + k[j]) mod 2^32) · ((w[j+4] + k[j+4]) mod 2^32)      mod 2^64
 *   B += the same with k'
 *
 * For two different pages of one size chosen without knowledge of the key, A and B both agree
 * with probability at most 2^-64 (NH pairs each word with one other, any pairing: 2^-32 per
 * instance; the shift of a whole block gives the last differing pair fresh key words in B): a
 * changed page is taken for its old self at most once in 2^64 comparisons. Not a cryptographic
 * hash: the sha256 page maps still prove every restore. It runs in WebAssembly SIMD over chunks of
 * pages, several times faster than node's sha256 called once per page (the call costs more than
 * the hashing).
 *
 * FAST_HASH_WASM is the module, assembled below; its one function is
 *   nh(key, data, pageSize, count, out): for `count` pages of `pageSize` bytes from `data`, writes
 *   16 bytes each (A, B as little-endian u64) from `out`; `key` holds pageSize + 32 bytes.
 * Imported memory `m.mem`; pageSize is a multiple of 32 (SQLite's are powers of two ≥ 512).
 */
export const FAST_HASH_BYTES = 16;

const I32 = 0x7f;
const V128 = 0x7b;
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const simd = (op: number, ...rest: number[]) => [0xfd, ...uleb(op), ...rest];
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const load = (offset: number) => simd(0x00, 0, ...uleb(offset)); // v128.load align=1
const i32add = [0x6a];
const addLanes = simd(0xae); // i32x4.add
const i64x2add = simd(0xce);
const mulLow = simd(0xde); // i64x2.extmul_low_i32x4_u
const mulHigh = simd(0xdf); // i64x2.extmul_high_i32x4_u

// Parameters 0..4: key, data, size, count, out. Locals: 5 i (i32), 6 accA, 7 accB, 8 x, 9 y (v128).
const [KEY, DATA, SIZE, COUNT, OUT, I, ACC_A, ACC_B, X, Y] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const keyAt = (offset: number) => [...get(KEY), ...get(I), ...i32add, ...load(offset)];
/** acc += (x + key[i+k..]) ⊗ (y + key[i+k+16..]): word j of the first half times word j of the second. */
const instance = (acc: number, keyOffset: number) => [
  ...get(X), ...keyAt(keyOffset), ...addLanes, ...set(X + 2),
  ...get(Y), ...keyAt(keyOffset + 16), ...addLanes, ...set(Y + 2),
  ...get(acc), ...get(X + 2), ...get(Y + 2), ...mulLow, ...i64x2add, ...get(X + 2), ...get(Y + 2), ...mulHigh, ...i64x2add, ...set(acc),
];
const sumLanes = (acc: number) => [...get(acc), ...simd(0x1d, 0), ...get(acc), ...simd(0x1d, 1), 0x7c]; // i64x2.extract_lane ×2, i64.add
const zero = [...simd(0x0c, ...new Array<number>(16).fill(0))]; // v128.const 0
const code = [
  // locals: i (i32); accA, accB, x, y, x + key, y + key (v128)
  2, 1, I32, 6, V128,
  0x02, 0x40, // block
  0x03, 0x40, // loop (pages)
  ...get(COUNT), 0x45, 0x0d, 1, // i32.eqz; br_if 1 (out of the block)
  ...zero, ...set(ACC_A), ...zero, ...set(ACC_B),
  0x41, 0, ...set(I), // i = 0
  0x03, 0x40, // loop (words)
  ...get(DATA), ...get(I), ...i32add, ...load(0), ...set(X),
  ...get(DATA), ...get(I), ...i32add, ...load(16), ...set(Y),
  ...instance(ACC_A, 0),
  ...instance(ACC_B, 32),
  ...get(I), 0x41, 32, ...i32add, ...tee(I), ...get(SIZE), 0x49, 0x0d, 0, // i += 32; br_if (i < size) words
  0x0b, // end words
  ...get(OUT), ...sumLanes(ACC_A), 0x37, 3, 0, // i64.store align=8 offset=0
  ...get(OUT), ...sumLanes(ACC_B), 0x37, 3, 8, // offset=8
  ...get(DATA), ...get(SIZE), ...i32add, ...set(DATA),
  ...get(OUT), 0x41, 16, ...i32add, ...set(OUT),
  ...get(COUNT), 0x41, 1, 0x6b, ...set(COUNT), // count -= 1
  0x0c, 0, // br pages
  0x0b, // end loop
  0x0b, // end block
  0x0b, // end function
];
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
const name = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];
export const FAST_HASH_WASM = Buffer.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 0]), // type: (i32 ×5) → ()
  ...section(2, [1, ...name('m'), ...name('mem'), 0x02, 0x00, 1]), // import memory m.mem, min 1
  ...section(3, [1, 0]), // function 0 has type 0
  ...section(7, [1, ...name('nh'), 0x00, 0]), // export "nh" = function 0
  ...section(10, [1, ...uleb(code.length), ...code]),
]);

/** The part of the WebAssembly API used here (the project's lib has no DOM types). */
interface Wasm {
  Memory: new (size: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

let available: boolean | undefined;

/** Bytes of wasm memory per call: up to a mebibyte of pages, their hashes and the key (≤ 64 KiB + 16). */
const CHUNK = 1 << 20;
const KEY_ROOM = 65536 + 64;

/** Hashes pages with one chain's key; reuses one instance and its memory. */
export class FastPageHasher {
  private readonly nh: (key: number, data: number, size: number, count: number, out: number) => void;
  private readonly mem: Buffer;
  private readonly perCall: number;

  constructor(
    readonly pageSize: number,
    readonly key: Buffer,
  ) {
    if (key.length !== fastKeyBytes(pageSize)) throw new Error(`a fast-hash key for ${pageSize}-byte pages has ${fastKeyBytes(pageSize)} bytes, not ${key.length}`);
    this.perCall = Math.max(1, Math.floor(CHUNK / pageSize));
    const bytes = KEY_ROOM + this.perCall * pageSize + this.perCall * FAST_HASH_BYTES;
    const memory = new wasm.Memory({ initial: Math.ceil(bytes / 65536) });
    const instance = new wasm.Instance(new wasm.Module(FAST_HASH_WASM), { m: { mem: memory } });
    this.nh = instance.exports['nh'] as FastPageHasher['nh'];
    this.mem = Buffer.from(memory.buffer);
    key.copy(this.mem, 0);
  }

  /** A new random key for `pageSize`-byte pages (each full draws one). */
  static newKey(pageSize: number): Buffer {
    return randomBytes(fastKeyBytes(pageSize));
  }

  /**
   * A new key when this runtime compiles the module (WebAssembly SIMD needs SSE4.1 on x86), else
   * undefined: the full then records no fast map and its links compare pages by sha256.
   */
  static keyIfAvailable(pageSize: number): Buffer | undefined {
    available ??= (() => {
      try {
        new wasm.Module(FAST_HASH_WASM);
        return true;
      } catch {
        return false;
      }
    })();
    return available ? FastPageHasher.newKey(pageSize) : undefined;
  }

  /** The hashes of the whole pages in `pages`, FAST_HASH_BYTES each, written into `out` from `outAt`. */
  hashPages(pages: Buffer, out: Buffer, outAt = 0): void {
    const count = Math.floor(pages.length / this.pageSize);
    for (let first = 0; first < count; first += this.perCall) {
      const n = Math.min(this.perCall, count - first);
      const dataAt = KEY_ROOM;
      const hashesAt = KEY_ROOM + this.perCall * this.pageSize;
      pages.copy(this.mem, dataAt, first * this.pageSize, (first + n) * this.pageSize);
      this.nh(0, dataAt, this.pageSize, n, hashesAt);
      this.mem.copy(out, outAt + first * FAST_HASH_BYTES, hashesAt, hashesAt + n * FAST_HASH_BYTES);
    }
  }

  /** The hash of one page. */
  hash(page: Buffer): Buffer {
    const out = Buffer.alloc(FAST_HASH_BYTES);
    this.hashPages(page, out);
    return out;
  }
}

export function fastKeyBytes(pageSize: number): number {
  return pageSize + 32;
}
