import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionTarget } from '../../src/application/ports/connection-target.js';
import type { ConnectorPlugin } from '../../src/application/ports/connector-plugin.js';
import type { DatabaseConnector } from '../../src/application/ports/database-connector.js';
import type { DatabaseSession } from '../../src/application/ports/database-session.js';
import type { PartSource } from '../../src/application/ports/parts.js';
import type { RestoreRequest } from '../../src/application/ports/restore-plan.js';
import type { PartEntry } from '../../src/domain/manifest.js';
import { RestoreBackup } from '../../src/application/use-cases/restore-backup.js';
import { RunBackup } from '../../src/application/use-cases/run-backup.js';
import { MapCodecRegistry } from '../../src/adapters/compression/codec-registry.js';
import { GzipCodec } from '../../src/adapters/compression/gzip-codec.js';
import { NoneCodec } from '../../src/adapters/compression/none-codec.js';
import { ZstdCodec } from '../../src/adapters/compression/zstd-codec.js';
import { MapConnectorRegistry } from '../../src/adapters/connectors/connector-registry.js';
import { checkPlugin } from '../../src/adapters/connectors/plugin-check.js';
import { LocalRepositoryOpener } from '../../src/adapters/storage/repository-opener.js';
import { isDbBackupError } from '../../src/domain/errors.js';
import { NullProgress } from '../../src/infrastructure/progress.js';
import { MemoryCatalog, silentLogger } from '../helpers/fakes.js';

/** Object name (engine-qualified, as in the manifest) → a canonical digest of its content. */
export type Contents = Record<string, string>;

/** What an engine gives the connector contract: fresh databases and a way to compare them. */
export interface ConnectorHarness {
  /** The plugin under test (built in, or an installed package's default export). */
  plugin: ConnectorPlugin;
  /** A fresh database holding every value type the engine has (NULL vs empty, unicode, binary, extremes …). */
  source(): Promise<ConnectionTarget>;
  /** A fresh restore target: empty or not yet created. */
  target(): Promise<ConnectionTarget>;
  /** The user objects' contents; `{}` for an empty or missing database. */
  contents(target: ConnectionTarget): Promise<Contents>;
  /** Objects (as `contents` names them) a selective backup/restore picks; not all of the source's. */
  selective: string[];
  /** Engine-specific restore choices every restore of the suite uses (e.g. `{ create: true }`). */
  restoreOptions?: Omit<RestoreRequest, 'tables' | 'clean'>;
  /** The source with a wrong password (engines with credentials); a backup must fail with exit code 3. */
  badCredentials?(): Promise<ConnectionTarget>;
  /** Changes some rows of `target` (engines with change capture): inserts, updates and deletes. */
  mutate?(target: ConnectionTarget): Promise<void>;
  cleanup?(): Promise<void>;
}

/**
 * The one DatabaseConnector conformance suite (as blob-store-contract.ts for storage): every
 * connector plugin, built in or installed, runs it against a real database. It goes through the
 * real use-cases, repository and codecs, so it checks what a user gets.
 */
export function databaseConnectorContract(name: string, harness: ConnectorHarness): void {
  let work: string;
  let connector: DatabaseConnector;
  let seq = 0;
  const repo = () => join(work, `repo-${++seq}`);

  const app = (using: DatabaseConnector = connector) => services(using);
  const signal = () => new AbortController().signal;
  const backup = (target: ConnectionTarget, repository: string, extra: { tables?: string[]; dryRun?: boolean } = {}, using = app()) =>
    using.runBackup.execute({ target, repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 2, ...extra }, signal());
  const restore = (target: ConnectionTarget, repository: string, extra: { tables?: string[]; clean?: boolean; dryRun?: boolean } = {}) =>
    app().restoreBackup.execute({ repository, backup: 'latest', target, clean: false, options: harness.restoreOptions, ...extra }, signal());

  describe(`DatabaseConnector contract: ${name}`, () => {
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'dbb-contract-'));
      checkPlugin(harness.plugin, `The ${name} plugin`);
      connector = await new MapConnectorRegistry([harness.plugin]).get(harness.plugin.engine);
    });
    afterAll(async () => {
      await harness.cleanup?.();
      await rm(work, { recursive: true, force: true });
    });

    it('is a well-formed plugin whose connector reports the same engine and capabilities', () => {
      expect(connector.engine).toBe(harness.plugin.engine);
      expect(connector.capabilities).toEqual(harness.plugin.capabilities);
      expect(harness.selective.length).toBeGreaterThan(0);
    });

    it('round-trips every value type: a restore holds exactly what the source held', async () => {
      const source = await harness.source();
      const expected = await harness.contents(source);
      expect(Object.keys(expected).length).toBeGreaterThan(harness.selective.length);
      const repository = repo();
      const { manifest } = await backup(source, repository);
      expect(manifest.engine).toBe(harness.plugin.engine);
      expect(manifest.parts.length).toBeGreaterThan(0);
      const target = await harness.target();
      const { outcome } = await restore(target, repository);
      expect(outcome!.objects.length).toBeGreaterThan(0);
      expect(await harness.contents(target)).toEqual(expected);
    });

    it('restores only the chosen objects (selective restore), and backs up only the chosen ones', async () => {
      const source = await harness.source();
      const all = await harness.contents(source);
      const chosen = Object.fromEntries(harness.selective.map((o) => [o, all[o]]));
      const repository = repo();
      await backup(source, repository);
      const target = await harness.target();
      await restore(target, repository, { tables: harness.selective });
      expect(await harness.contents(target)).toEqual(chosen);

      const partial = repo();
      await backup(source, partial, { tables: harness.selective });
      const second = await harness.target();
      await restore(second, partial);
      expect(await harness.contents(second)).toEqual(chosen);
    });

    it('refuses a non-empty target (E_TARGET_EXISTS, nothing changed) unless clean', async () => {
      const source = await harness.source();
      const expected = await harness.contents(source);
      const repository = repo();
      await backup(source, repository);
      const target = await harness.target();
      await restore(target, repository, { tables: harness.selective });
      const before = await harness.contents(target);
      const refused = await restore(target, repository).catch((e: unknown) => e);
      expect(isDbBackupError(refused, 'E_TARGET_EXISTS')).toBe(true);
      expect(await harness.contents(target)).toEqual(before);
      await restore(target, repository, { clean: true });
      expect(await harness.contents(target)).toEqual(expected);
    });

    it('dry runs change nothing: no backup written, no target touched', async () => {
      const source = await harness.source();
      const expected = await harness.contents(source);
      const repository = repo();
      const dry = await backup(source, repository, { dryRun: true });
      expect(dry.dryRun).toBe(true);
      expect(dry.manifest.objects.length).toBeGreaterThan(0);
      expect(await manifestsUnder(repository)).toEqual([]);

      await backup(source, repository);
      const target = await harness.target();
      const plan = await restore(target, repository, { dryRun: true });
      expect(plan.dryRun).toBe(true);
      expect(plan.plan.items.length).toBeGreaterThan(0);
      expect(await harness.contents(target)).toEqual({});

      await restore(target, repository, { tables: harness.selective });
      const before = await harness.contents(target);
      const replace = await restore(target, repository, { dryRun: true, clean: true });
      expect(replace.plan.targetEmpty).toBe(false);
      expect(await harness.contents(target)).toEqual(before);
      expect(await harness.contents(source)).toEqual(expected);
    });

    it('an interrupted backup leaves no backup behind (no manifest, nothing listed)', async () => {
      const source = await harness.source();
      const repository = repo();
      const controller = new AbortController();
      const using = app(interruptingAtFirstPart(connector, controller));
      const failed = await using.runBackup
        .execute({ target: source, repository, kind: 'full', compression: { codec: 'zstd' }, parallel: 2 }, controller.signal)
        .catch((e: unknown) => e);
      expect(isDbBackupError(failed, 'E_INTERRUPTED')).toBe(true);
      expect(await manifestsUnder(repository)).toEqual([]);
      const target = await harness.target();
      const none = await restore(target, repository).catch((e: unknown) => e);
      expect(isDbBackupError(none)).toBe(true);
      expect(await harness.contents(target)).toEqual({});
    });

    if (harness.badCredentials) {
      const badCredentials = harness.badCredentials;
      it('bad credentials fail with exit code 3, and the password is in no message', async () => {
        const target = await badCredentials();
        const err = await backup(target, repo()).catch((e: unknown) => e);
        expect(isDbBackupError(err)).toBe(true);
        const e = err as { exitCode: number; message: string; details: unknown };
        expect(e.exitCode).toBe(3);
        if (target.password) expect(e.message + JSON.stringify(e.details)).not.toContain(target.password);
      });
    }

    if (harness.plugin.capabilities.changes) changeCaptureCases(harness, () => connector);
  });
}

/**
 * Change capture (capabilities.changes): a copy restored from a full backup taken at a position,
 * with the changes read since that position applied to it, holds what the source holds now.
 */
function changeCaptureCases(harness: ConnectorHarness, connector: () => DatabaseConnector): void {
  it('change capture: changes read since a position, applied to a copy taken there, give the source as it is now', async () => {
    expect(harness.mutate, 'a harness of an engine with change capture gives mutate()').toBeTypeOf('function');
    const signal = new AbortController().signal;
    const source = await harness.source();
    const work = await mkdtemp(join(tmpdir(), 'dbb-changes-'));
    const reader = await connector().connect(source, 'backup');
    const copy = await harness.target();
    const writer = await connector().connect(copy, 'restore');
    try {
      const since = await reader.changes!.position();
      const app = services(connector());
      const full = join(work, 'full');
      const { manifest } = await app.runBackup.execute({ target: source, repository: full, kind: 'full', compression: { codec: 'none' }, parallel: 1 }, signal);
      await app.restoreBackup.execute({ repository: full, backup: 'latest', target: copy, clean: false, options: harness.restoreOptions }, signal);
      await harness.mutate!(source);
      const bytes = new Map<string, Buffer>();
      const parts: PartEntry[] = [];
      const batch = await reader.changes!.readChanges(
        since,
        {
          async write(spec, body) {
            const chunks: Buffer[] = [];
            for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
            const raw = Buffer.concat(chunks);
            const sha256 = createHash('sha256').update(raw).digest('hex');
            const entry: PartEntry = { name: spec.name, role: spec.role, object: spec.object, codecs: [], rawSize: raw.length, storedSize: raw.length, sha256 };
            bytes.set(spec.name, raw);
            parts.push(entry);
            return entry;
          },
        },
        signal,
      );
      expect(batch.changes).toBeGreaterThan(0);
      expect(batch.to).not.toEqual(since);
      expect(parts.every((p) => p.role === 'changes')).toBe(true);
      const changed: PartSource = { manifest: { ...manifest, kind: 'incremental', parts }, open: async (p) => Readable.from([bytes.get(p.name)!]) };
      await writer.changes!.applyChanges(changed, undefined, signal);
      expect(await harness.contents(copy)).toEqual(await harness.contents(source));
    } finally {
      await reader.close();
      await writer.close();
      await rm(work, { recursive: true, force: true });
    }
  });
}

/** The real use-cases over a local repository, the real codecs and an in-memory catalog. */
function services(connector: DatabaseConnector) {
  const deps = {
    connectors: new MapConnectorRegistry([connector]),
    opener: new LocalRepositoryOpener(),
    codecs: new MapCodecRegistry([new ZstdCodec(), new GzipCodec(), new NoneCodec()]),
    catalog: new MemoryCatalog(),
    clock: { now: () => new Date() },
    logger: silentLogger,
    progress: new NullProgress(),
  };
  return { runBackup: new RunBackup({ ...deps, toolVersion: 'contract' }), restoreBackup: new RestoreBackup(deps) };
}

/** The connector, whose dumps are interrupted (as by Ctrl-C) the moment they hand over their first part. */
function interruptingAtFirstPart(connector: DatabaseConnector, controller: AbortController): DatabaseConnector {
  return {
    engine: connector.engine,
    capabilities: connector.capabilities,
    defaultSourceName: (t) => connector.defaultSourceName(t),
    async connect(target, purpose): Promise<DatabaseSession> {
      const s = await connector.connect(target, purpose);
      return {
        test: () => s.test(),
        inspect: (f) => s.inspect(f),
        planRestore: (m, r) => s.planRestore(m, r),
        restore: (p, r, sig) => s.restore(p, r, sig),
        close: () => s.close(),
        dump: (request, sink, sig) =>
          s.dump(
            request,
            {
              write(spec, body) {
                controller.abort(new Error('interrupted by the connector contract'));
                return sink.write(spec, body);
              },
            },
            sig,
          ),
      };
    },
  };
}

/** Every manifest.json under `dir` (a repository folder), relative; [] when the folder does not exist. */
async function manifestsUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => e.endsWith('manifest.json'));
}
