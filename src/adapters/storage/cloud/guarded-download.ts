import { Readable } from 'node:stream';
import { DbBackupError } from '../../../domain/errors.js';

export interface DownloadGuard {
  /** Bytes the response promised (Content-Length), when known. */
  expectedBytes?: number;
  /** Fail when no byte arrives for this long (a connection that died without an error). */
  idleMs: number;
  location: string;
  key: string;
  signal?: AbortSignal;
}

/**
 * Passes a download through and turns a silent break into a retryable E_STORAGE error: a stall
 * longer than `idleMs`, an end before `expectedBytes`, or a stream error the caller did not cause.
 * (The GCS SDK's read stream neither ends nor errors when its connection is cut.)
 */
export function guardDownload(body: Readable, guard: DownloadGuard): Readable {
  const broken = (why: string, cause?: unknown) =>
    new DbBackupError('E_STORAGE', `The connection broke while reading ${guard.key} from ${guard.location} (${why}).`, {
      cause,
      details: { location: guard.location, retryable: true },
    });
  async function* guarded(): AsyncGenerator<Buffer> {
    const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let bytes = 0;
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const stall = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(broken(`no data for ${guard.idleMs} ms`)), guard.idleMs);
        });
        let next: IteratorResult<Buffer>;
        try {
          next = await Promise.race([it.next(), stall]);
        } catch (err) {
          if (guard.signal?.aborted || err instanceof DbBackupError) throw err;
          throw broken((err as Error)?.message ?? String(err), err);
        } finally {
          clearTimeout(timer);
        }
        if (next.done) break;
        bytes += next.value.length;
        yield next.value;
      }
    } finally {
      body.destroy();
    }
    if (guard.expectedBytes !== undefined && bytes < guard.expectedBytes) {
      throw broken(`ended after ${bytes} of ${guard.expectedBytes} bytes`);
    }
  }
  return Readable.from(guarded(), { objectMode: false });
}
