import type { Transform } from 'node:stream';

/** A reversible byte transform in a part's codec chain (compression now, encryption later). */
export interface Codec {
  /** Stable id written into manifests, e.g. 'zstd'. */
  readonly id: string;
  /** File name suffix for parts encoded with it, without the dot ('' for none). */
  readonly extension: string;
  /** A fresh Transform that encodes; `level` is codec-specific and validated by the codec. */
  encoder(level?: number): Transform;
  /**
   * A fresh Transform that decodes; fails the stream on damaged input, and as soon as its output
   * passes `maxOutput` bytes (a part's declared raw size). It decodes only as fast as its output
   * is read (backpressure), so a small crafted input never expands in memory.
   */
  decoder(options?: DecoderOptions): Transform;
  /**
   * True when the decoder itself checks its output against a checksum the encoder stored (zstd's
   * content checksum, gzip's CRC-32): its output is then known intact without hashing it again.
   */
  readonly checksOutput: boolean;
}

export interface DecoderOptions {
  /** The most bytes the decoded output may have; more fails the stream (default: no limit). */
  maxOutput?: number;
}

export interface CodecRegistry {
  /** The codec with this id; throws E_UNSUPPORTED naming the known ids otherwise. */
  get(id: string): Codec;
  ids(): string[];
}
