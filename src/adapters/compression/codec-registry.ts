import type { Codec, CodecRegistry } from '../../application/ports/codec.js';
import { DbBackupError } from '../../domain/errors.js';

export class MapCodecRegistry implements CodecRegistry {
  private readonly byId: Map<string, Codec>;

  constructor(codecs: Codec[]) {
    this.byId = new Map(codecs.map((c) => [c.id, c]));
  }

  get(id: string): Codec {
    const codec = this.byId.get(id);
    if (!codec) {
      throw new DbBackupError('E_UNSUPPORTED', `Unknown codec "${id}"; this dbbackup knows: ${this.ids().join(', ')}.`);
    }
    return codec;
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }
}
