import { Readable } from 'node:stream';
import type { BackupCatalog, CatalogBackup } from '../../src/application/ports/backup-catalog.js';
import type { TargetOutcomeRecord } from '../../src/application/ports/target-outcomes.js';
import type { BlobStore } from '../../src/application/ports/blob-store.js';
import type { ConnectionTarget } from '../../src/application/ports/connection-target.js';
import type { DatabaseConnector } from '../../src/application/ports/database-connector.js';
import type { DatabaseSession } from '../../src/application/ports/database-session.js';
import type { DumpRequest, DumpResult } from '../../src/application/ports/dump.js';
import type { PartSink, PartSource } from '../../src/application/ports/parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../../src/application/ports/restore-plan.js';
import type { Logger } from '../../src/application/ports/logger.js';
import type { OpenedRepository, RepositoryOpener } from '../../src/application/ports/repository-opener.js';
import { durationMs, type Manifest, type ObjectEntry, totalRawSize, totalStoredSize } from '../../src/domain/manifest.js';
import { dataPartName } from '../../src/domain/repository-layout.js';
import { DbBackupError } from '../../src/domain/errors.js';

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

export const fixedClock = (iso = '2026-11-25T02:00:00Z') => {
  let t = Date.parse(iso);
  return { now: () => new Date((t += 1000)) };
};

export class MemoryCatalog implements BackupCatalog {
  rows: CatalogBackup[] = [];
  repos = new Set<string>();
  async record(repository: string, m: Manifest): Promise<void> {
    this.repos.add(repository);
    this.rows = this.rows.filter((r) => !(r.repository === repository && r.id === m.id));
    this.rows.push(toRow(repository, m));
  }
  async list(filter: { repository?: string; source?: string } = {}): Promise<CatalogBackup[]> {
    return this.rows
      .filter((r) => (!filter.repository || r.repository === filter.repository) && (!filter.source || r.source === filter.source))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
  async replaceRepository(repository: string, manifests: Manifest[]): Promise<void> {
    this.repos.add(repository);
    this.rows = this.rows.filter((r) => r.repository !== repository).concat(manifests.map((m) => toRow(repository, m)));
  }
  async repositories(): Promise<string[]> {
    return [...this.repos];
  }
  async forget(repository: string, ids: readonly string[]): Promise<void> {
    this.rows = this.rows.filter((r) => !(r.repository === repository && ids.includes(r.id)));
  }
  outcomeRows = new Map<string, TargetOutcomeRecord[]>();
  async recordOutcomes(source: string, backupId: string, outcomes: TargetOutcomeRecord[]): Promise<void> {
    this.outcomeRows.set(`${source}/${backupId}`, outcomes);
  }
  async outcomes(source: string, backupId: string): Promise<TargetOutcomeRecord[]> {
    return this.outcomeRows.get(`${source}/${backupId}`) ?? [];
  }
  close(): void {}
}

function toRow(repository: string, m: Manifest): CatalogBackup {
  return {
    id: m.id,
    repository,
    source: m.source,
    engine: m.engine,
    kind: m.kind,
    parent: m.parent,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    storedSize: totalStoredSize(m),
    rawSize: totalRawSize(m),
    durationMs: durationMs(m),
    status: 'complete',
    objectCount: m.objects.length,
    partCount: m.parts.length,
  };
}

/** Opens every URL onto the same in-memory store. */
export class MemoryOpener implements RepositoryOpener {
  constructor(readonly store: BlobStore) {}
  async open(): Promise<OpenedRepository> {
    return { store: this.store, kind: 'memory', commit: async () => {}, abort: async () => {}, close: async () => {} };
  }
}

/** Opens each URL onto its own in-memory store; `forcedCodecs` makes a URL behave like an archive. */
export class MemoryOpenerMap implements RepositoryOpener {
  readonly opened: string[] = [];
  constructor(
    readonly stores: Record<string, BlobStore>,
    private readonly forcedCodecs: Record<string, string[]> = {},
  ) {}
  async open(url: string): Promise<OpenedRepository> {
    const store = this.stores[url];
    if (!store) throw new DbBackupError('E_NOT_FOUND', `no store ${url}`);
    this.opened.push(url);
    return { store, kind: 'memory', forcedCodecs: this.forcedCodecs[url], commit: async () => {}, abort: async () => {}, close: async () => {} };
  }
}

/** A database of named tables, each a list of text lines. */
export type FakeTables = Record<string, string[]>;

/**
 * An in-memory "database" connector for use-case tests: a table is a list of lines, dumped as
 * one part per table. `failOn` makes the dump of that table fail half-way.
 */
export class FakeConnector implements DatabaseConnector {
  readonly engine = 'postgres' as const;
  restored: FakeTables | undefined;
  restoreCalls = 0;
  dumpCalls = 0;
  failOn: string | undefined;
  constructor(
    public tables: FakeTables,
    readonly capabilities = { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false },
  ) {}
  defaultSourceName(): string {
    return 'fake';
  }
  async connect(_t: ConnectionTarget): Promise<DatabaseSession> {
    const self = this;
    const objects = (): ObjectEntry[] => Object.entries(self.tables).map(([name, rows]) => ({ name, type: 'table', rows: rows.length }));
    return {
      async test() {},
      async inspect() {
        return objects();
      },
      async dump(request: DumpRequest, sink: PartSink): Promise<DumpResult> {
        self.dumpCalls++;
        for (const [name, rows] of Object.entries(self.tables)) {
          if (request.tables && !request.tables.includes(name)) continue;
          const lines = rows.map((r) => `${r}\n`);
          const body =
            self.failOn === name
              ? Readable.from(
                  (async function* () {
                    yield Buffer.from(lines[0] ?? 'x');
                    throw new Error('connection reset by peer');
                  })(),
                )
              : Readable.from(lines.map((l) => Buffer.from(l)));
          await sink.write({ name: dataPartName(name, 0, 'txt'), role: 'data', object: name }, body);
        }
        return { serverVersion: 'fake 1', consistentAt: new Date('2026-11-25T02:00:00Z'), logPosition: null, objects: objects(), warnings: [], engineInfo: {} };
      },
      async planRestore(m: Manifest, req: RestoreRequest): Promise<RestorePlan> {
        return {
          target: 'fake',
          targetExists: self.restored !== undefined,
          targetEmpty: self.restored === undefined,
          effect: 'create',
          items: m.objects.filter((o) => !req.tables || req.tables.includes(o.name)).map((o) => ({ object: o.name, type: o.type, rows: o.rows, bytes: 0, action: 'create' as const })),
          warnings: [],
        };
      },
      async restore(parts: PartSource, req: RestoreRequest): Promise<RestoreOutcome> {
        self.restoreCalls++;
        const out: FakeTables = {};
        for (const p of parts.manifest.parts) {
          if (!p.object || (req.tables && !req.tables.includes(p.object))) continue;
          let text = '';
          for await (const c of await parts.open(p)) text += (c as Buffer).toString();
          out[p.object] = text.split('\n').slice(0, -1);
        }
        self.restored = out;
        return { objects: Object.keys(out), rows: Object.values(out).reduce((n, r) => n + r.length, 0) };
      },
      async close() {},
    };
  }
}
