import { describe, expect, it } from 'vitest';
import type { OutcomeEvent } from '../../../src/application/ports/notifier.js';
import { RunBackup } from '../../../src/application/use-cases/run-backup.js';
import { MapCodecRegistry } from '../../../src/adapters/compression/codec-registry.js';
import { NoneCodec } from '../../../src/adapters/compression/none-codec.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { slackText } from '../../../src/adapters/notifiers/slack-notifier.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { NullProgress } from '../../../src/infrastructure/progress.js';
import { FakeConnector, fixedClock, MemoryCatalog, MemoryOpener, silentLogger } from '../../helpers/fakes.js';
import { MemoryBlobStore } from '../../helpers/memory-blob-store.js';

/** An engine without change capture (the fake has no `capabilities.changes`). */
function setup() {
  const events: OutcomeEvent[] = [];
  const runBackup = new RunBackup({
    connectors: new MapConnectorRegistry([new FakeConnector({ users: ['1\talice'] })]),
    opener: new MemoryOpener(new MemoryBlobStore()),
    codecs: new MapCodecRegistry([new NoneCodec()]),
    catalog: new MemoryCatalog(),
    clock: fixedClock(),
    logger: silentLogger,
    progress: new NullProgress(),
    toolVersion: 't',
    notifiers: [{ name: 'memory', throttleMs: 0, wants: () => true, send: async (e) => void events.push(e) }],
  });
  const input = { target: { engine: 'postgres', database: 'app' }, repository: 'mem', compression: { codec: 'none' }, parallel: 1 } as const;
  return { runBackup, input, events };
}

describe('backup kinds on an engine without change capture', () => {
  it('refuses an incremental or differential with E_UNSUPPORTED (exit 2)', async () => {
    const { runBackup, input } = setup();
    for (const kind of ['incremental', 'differential'] as const) {
      const err = await runBackup.execute({ ...input, kind }, new AbortController().signal).catch((e: unknown) => e);
      expect(isDbBackupError(err, 'E_UNSUPPORTED')).toBe(true);
      expect((err as { exitCode: number }).exitCode).toBe(2);
    }
  });

  it('--auto-full takes a full and says so in the manifest and the notification', async () => {
    const { runBackup, input, events } = setup();
    const { manifest } = await runBackup.execute({ ...input, kind: 'incremental', autoFull: true }, new AbortController().signal);
    expect(manifest.kind).toBe('full');
    expect(manifest.id).toMatch(/-full-/);
    expect(manifest.fallback).toEqual({ requested: 'incremental', reason: 'postgres backups cannot capture changes yet' });
    expect(events[0]).toMatchObject({ outcome: 'success', kind: 'full', fallback: { requested: 'incremental' } });
    expect(slackText(events[0]!)).toContain('took a full instead of an incremental: postgres backups cannot capture changes yet');
  });
});
