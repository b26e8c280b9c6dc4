import { EarlyPageReader, isSmallDatabase } from './sqlite-live-snapshot.js';

/**
 * Page readers started ahead of a backup session (DatabaseConnector.warmUp): the reader's Node
 * process boots (~0.1 s of a second core) while the caller finds the parent backup, reads its
 * manifests and opens the session, instead of after. The next session of that file takes it over
 * once (for its full's or its changes' snapshot); `release()` ends it when nobody did. None is
 * started for a file read in memory (isSmallDatabase).
 */
export class WarmPageReaders {
  private readonly ready = new Map<string, Promise<EarlyPageReader | undefined>>();

  start(path: string): { release(): Promise<void> } {
    const reader = isSmallDatabase(path).then(
      (small) => (small ? undefined : new EarlyPageReader(path)),
      () => undefined,
    );
    this.ready.set(path, reader);
    return {
      release: async () => {
        if (this.ready.get(path) === reader) this.ready.delete(path);
        await (await reader)?.stop();
      },
    };
  }

  /** The reader started for `path`, handed out once (undefined when none was). */
  take(path: string): Promise<EarlyPageReader | undefined> | undefined {
    const reader = this.ready.get(path);
    this.ready.delete(path);
    return reader;
  }
}
