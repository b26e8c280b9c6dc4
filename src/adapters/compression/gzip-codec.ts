import { type Transform } from 'node:stream';
import type { Codec, DecoderOptions } from '../../application/ports/codec.js';
import { DbBackupError } from '../../domain/errors.js';
import { zlib } from '../../infrastructure/builtins.js';
import { limitOutput } from '../../infrastructure/output-limit.js';

/** gzip through node:zlib (measured ~1.6× faster than fflate here). Levels 1–9, default 6. */
export class GzipCodec implements Codec {
  readonly id = 'gzip';
  readonly extension = 'gz';
  /** The gzip trailer's CRC-32 and length are checked by zlib. */
  readonly checksOutput = true;

  encoder(level = 6): Transform {
    if (!Number.isInteger(level) || level < 1 || level > 9) {
      throw new DbBackupError('E_USAGE', `gzip level must be 1–9, got ${level}.`);
    }
    return zlib().createGzip({ level, chunkSize: 1 << 16 });
  }

  decoder(options: DecoderOptions = {}): Transform {
    return limitOutput(zlib().createGunzip({ chunkSize: 1 << 16, finishFlush: zlib().constants.Z_SYNC_FLUSH }), options.maxOutput);
  }
}
