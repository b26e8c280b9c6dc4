import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerModule } from 'inversify';
import { afterAll, describe, expect, it } from 'vitest';
import { FileProgress, parseProgressRecord, progressFolder, type ProgressRecord } from '../../../src/adapters/progress/progress-file.js';
import { appServices, buildContainer } from '../../../src/bootstrap/container.js';
import { Tokens } from '../../../src/bootstrap/tokens.js';
import { createNastyDatabase } from '../../helpers/sqlite-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** FileProgress that also notes what its file held each time the backup advanced. */
class WatchedProgress extends FileProgress {
  readonly held: (ProgressRecord | undefined)[] = [];
  override advance(bytes: number, object?: string): void {
    super.advance(bytes, object);
    const file = join(progressFolder(this.dataDir), `${this.run}.json`);
    this.held.push(existsSync(file) ? parseProgressRecord(readFileSync(file, 'utf8')) : undefined);
  }
  constructor(private readonly dataDir: string) {
    super(progressFolder(dataDir), { schedule: 'app-nightly', source: 'app' }, 0);
  }
}

describe('a real backup run with the progress-file reporter (what a scheduler job uses)', () => {
  it('keeps a valid record in the data dir while it runs and removes it when it ends', async () => {
    const dir = await tempDir('dbb-progress-file-');
    cleanups.push(() => dir.cleanup());
    const dataDir = join(dir.path, 'data');
    const progress = new WatchedProgress(dataDir);
    const app = appServices(
      buildContainer({ dataDir, logLevel: 'error', json: false, progress: false, toolVersion: 'test' }, [
        new ContainerModule(({ rebind }) => void rebind(Tokens.Progress).toConstantValue(progress)),
      ]),
    );
    cleanups.push(() => app.close());
    const source = join(dir.path, 'app.db');
    createNastyDatabase(source);
    const { manifest } = await app.runBackup.execute(
      { target: { engine: 'sqlite', database: source }, repository: join(dir.path, 'repo'), source: 'app', kind: 'full', compression: { codec: 'zstd' }, parallel: 1 },
      new AbortController().signal,
    );
    expect(manifest.kind).toBe('full');
    expect(progress.held.length).toBeGreaterThan(0);
    for (const record of progress.held) expect(record).toMatchObject({ run: progress.run, source: 'app', schedule: 'app-nightly', label: 'backup app', pid: process.pid });
    expect(progress.held.at(-1)!.bytes).toBeGreaterThan(0);
    // The run is over: nothing is left for a dashboard to show.
    expect(readdirSync(progressFolder(dataDir))).toEqual([]);
  });
});
