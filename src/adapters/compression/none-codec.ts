import { PassThrough, type Transform } from 'node:stream';
import type { Codec, DecoderOptions } from '../../application/ports/codec.js';
import { limitOutput } from '../../infrastructure/output-limit.js';

/** Stores bytes as they are (`--compress none`). Never written into a manifest's codec list. */
export class NoneCodec implements Codec {
  readonly id = 'none';
  readonly extension = '';
  readonly checksOutput = false;

  encoder(): Transform {
    return new PassThrough({ highWaterMark: 1 << 20 });
  }

  decoder(options: DecoderOptions = {}): Transform {
    return limitOutput(new PassThrough({ highWaterMark: 1 << 20 }), options.maxOutput);
  }
}
