import { availableParallelism } from 'node:os';
import type { Transform } from 'node:stream';
import type { Codec, DecoderOptions } from '../../application/ports/codec.js';
import { DbBackupError } from '../../domain/errors.js';
import { ZstdDecodeStream } from './zstd-decode-stream.js';
import { ZstdEncodeStream } from './zstd-streams.js';

export interface ZstdCodecOptions {
  /**
   * Compression threads shared by the large streams (default: the machine's cores, at most 4; see
   * ZstdPool): compression then runs beside the event loop, which keeps reading the database.
   * 0 = on the main thread.
   */
  threads?: number;
}

/**
 * zstd through zstd-napi's native binding: level 1 is the default (~5–8× gzip-6's speed at about its
 * ratio on dump data; each stream picks level 1's or a denser match finder from a sample of its
 * start, see ZstdEncodeStream). Levels 1–19.
 */
export class ZstdCodec implements Codec {
  readonly id = 'zstd';
  readonly extension = 'zst';
  /** Every frame is written with checksumFlag: the decoder verifies the XXH64 of its output. */
  readonly checksOutput = true;
  private readonly threads: number;

  constructor(options: ZstdCodecOptions = {}) {
    this.threads = options.threads ?? Math.min(4, availableParallelism());
  }

  encoder(level = 1): Transform {
    if (!Number.isInteger(level) || level < 1 || level > 19) {
      throw new DbBackupError('E_USAGE', `zstd level must be 1–19, got ${level}.`);
    }
    return new ZstdEncodeStream({ level, threads: this.threads });
  }

  decoder(options: DecoderOptions = {}): Transform {
    return new ZstdDecodeStream(options.maxOutput);
  }
}
