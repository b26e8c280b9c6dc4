import { incompleteTargetWarning } from '../restore-marker.js';
import { PostgresScratch } from './postgres-scratch.js';
import { PostgresContents } from './postgres-contents.js';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { ConnectorCapabilities } from '../../../application/ports/connector-capabilities.js';
import type { DatabaseConnector } from '../../../application/ports/database-connector.js';
import type { DatabaseDiagnosis, DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import type { Finding } from '../../../domain/diagnosis.js';
import type { DatabaseSession } from '../../../application/ports/database-session.js';
import type { DumpRequest, DumpResult } from '../../../application/ports/dump.js';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../../../application/ports/restore-plan.js';
import { postgresEngine } from './postgres-engine.js';
import { postgresGrants } from './postgres-grants.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { Manifest, ObjectEntry } from '../../../domain/manifest.js';
import { sourceNameFrom } from '../../../domain/repository-layout.js';
import { type PgEndpoint, describeEndpoint, openClient, resolveEndpoint } from './connection.js';
import { readCatalogRows } from './postgres-catalog.js';
import { type CaptureConsent, PostgresChangeCapture, captureConsent, dumpWithCapture, wantsCapture } from './postgres-changes.js';
import { PostgresContinuousCapture } from './postgres-continuous.js';
import { type DumpOptions, dumpDatabase } from './postgres-dump.js';
import { lockWaitMs } from './postgres-lock-wait.js';
import { PostgresCaptureSlots } from './postgres-slots.js';
import { type OpenedTarget, openTarget, restoreDatabase } from './postgres-restore.js';
import { buildSchema } from './postgres-schema.js';
import { resolveNames, selectItems } from './postgres-select.js';
import { skipWarnings } from './postgres-skips.js';
import { existingRelations, inspectTarget } from './postgres-target.js';
import { SessionClient } from './postgres-session-client.js';

export interface PostgresConnectorOptions {
  /** Data parts are cut at the first row end after this many bytes (default 256 MiB). */
  partSize?: number;
  /** Heap pages per chunk when several connections read one large table (default 8192). */
  chunkPages?: number;
}

/**
 * PostgreSQL through the `pg` driver and pg-copy-streams only (no pg_dump/psql needed): schema from
 * the catalogs, data as COPY text, one exported snapshot shared by parallel workers.
 */
export class PostgresConnector implements DatabaseConnector, DatabaseDiagnosis {
  /** Throwaway restore targets for `verify --deep`. */
  readonly scratch = new PostgresScratch();
  readonly engine: string = postgresEngine.engine;
  readonly capabilities: ConnectorCapabilities = postgresEngine.capabilities;

  constructor(private readonly options: PostgresConnectorOptions = {}) {}

  async connect(target: ConnectionTarget, purpose: 'backup' | 'restore'): Promise<DatabaseSession> {
    const strict = target.options?.strict === true;
    const endpoint = resolveEndpoint(target);
    const capture = purpose === 'backup' && wantsCapture(target.options) ? sourceNameFrom(endpoint.database) : undefined;
    const lockWait = lockWaitMs(target.options?.lockWaitTimeout);
    return new PostgresSession(endpoint, purpose, { partSize: this.options.partSize ?? 256 << 20, chunkPages: this.options.chunkPages, lockWaitMs: lockWait }, strict, capture, captureConsent(target.options));
  }

  defaultSourceName(target: ConnectionTarget): string {
    return sourceNameFrom(resolveEndpoint(target).database);
  }

  async diagnose(target: ConnectionTarget, request: DiagnosisRequest): Promise<Finding[]> {
    const endpoint = resolveEndpoint(target);
    return (await import('./postgres-diagnosis.js')).diagnosePostgres(endpoint, target.options, request);
  }

  grants(target?: ConnectionTarget): string {
    return postgresGrants(target ? resolveEndpoint(target).database : undefined);
  }
}

class PostgresSession implements DatabaseSession {
  /** The target as the last plan saw it, with its connection, until a restore takes it. */
  private opened: OpenedTarget | undefined;
  readonly changes: PostgresChangeCapture;
  readonly slots: PostgresCaptureSlots;
  /** The backup session's SQL connection for short steps (test, checks, confirm, slot list). */
  private readonly client: SessionClient;
  /** `replicate`: the slot streamed into log segments (a backup session only). */
  readonly continuous?: PostgresContinuousCapture;
  readonly contents: PostgresContents;

  /** `capture`: the default source name when a full must create a capture slot (`--capture changes`). */
  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly purpose: 'backup' | 'restore',
    private readonly dumpOptions: DumpOptions,
    /** --strict (a restore option of this plugin): any object that would be skipped fails the restore. */
    private readonly strict = false,
    private readonly capture?: string,
    /** --capture-ddl / --replica-identity-full: what the user let a full with capture change on the source. */
    private readonly consent: CaptureConsent = {},
  ) {
    this.client = new SessionClient(endpoint, purpose === 'backup');
    this.changes = new PostgresChangeCapture(endpoint, dumpOptions.partSize, sourceNameFrom(endpoint.database), this.client);
    this.slots = new PostgresCaptureSlots(endpoint, this.client);
    this.contents = new PostgresContents(endpoint);
    if (purpose === 'backup') this.continuous = new PostgresContinuousCapture(endpoint, capture ?? sourceNameFrom(endpoint.database), dumpOptions, consent);
  }

  async test(): Promise<void> {
    if (this.purpose === 'restore') {
      await inspectTarget(this.endpoint);
      return;
    }
    // The connection stays open for the session's next steps (see SessionClient).
    await this.client.use(async () => undefined);
  }

  async inspect(filter: { tables?: string[]; excludeTables?: string[] }): Promise<ObjectEntry[]> {
    const client = await openClient(this.endpoint);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const model = buildSchema(await readCatalogRows(client));
      const { keep } = selectItems(model.items, filter);
      const sizes = new Map(
        ((await client.query('SELECT c.oid, greatest(c.reltuples, 0)::bigint AS rows, pg_table_size(c.oid) AS bytes FROM pg_class c WHERE c.oid = ANY($1::oid[])', [model.tables.map((t) => t.oid)])).rows as {
          oid: number;
          rows: string;
          bytes: string;
        }[]).map((r) => [r.oid, r]),
      );
      const out: ObjectEntry[] = [];
      for (const item of model.items.filter((i) => keep.has(i.id))) {
        const table = model.tables.find((t) => t.itemId === item.id);
        const size = table ? sizes.get(table.oid) : undefined;
        if (item.kind === 'table') out.push(size ? { name: item.name, type: 'table', rows: Number(size.rows), rawBytes: Number(size.bytes) } : { name: item.name, type: 'partitioned table' });
        else if (item.kind === 'view') out.push({ name: item.name, type: 'view' });
        else if (item.kind === 'matview') out.push({ name: item.name, type: 'materialized view' });
        else if (item.kind === 'foreign-table') out.push({ name: item.name, type: 'foreign table' });
        else if (item.kind === 'sequence') out.push({ name: item.name, type: 'sequence' });
      }
      await client.query('COMMIT');
      return out;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult> {
    if (this.capture && request.kind === 'full') return dumpWithCapture(this.endpoint, request, request.source ?? this.capture, sink, signal, this.dumpOptions, this.consent);
    // The session's test opened a connection: the dump's leader takes it over.
    return dumpDatabase(this.endpoint, request, sink, signal, { ...this.dumpOptions, leader: () => this.client.take() });
  }

  /** Works from the manifest (objects, schemas) and a read-only look at the target. */
  async planRestore(manifest: Manifest, request: RestoreRequest): Promise<RestorePlan> {
    const objects = chooseObjects(manifest, request);
    await this.release();
    // The connection and the look at the target are kept for the restore that follows the plan.
    this.opened = await openTarget(this.endpoint);
    const { client } = this.opened;
    const state = { exists: client !== undefined, ...this.opened.state };
    const target = describeEndpoint(this.endpoint);
    let present = new Set<string>();
    if (client && state.count > 0) present = new Set(await existingRelations(client, objects.map((o) => o.name)));
    const selective = request.tables !== undefined || request.schemas !== undefined;
    const warnings: string[] = [];
    if (!state.exists && !request.create) warnings.push(`The database "${this.endpoint.database}" does not exist; pass --create to create it.`);
    if (!state.exists && request.create) warnings.push(`The database "${this.endpoint.database}" will be created.`);
    const occupied = selective ? present.size > 0 : state.count > 0;
    if (this.opened.state.incomplete) warnings.push(incompleteTargetWarning(target, this.opened.state.incomplete));
    if (occupied && !request.clean) warnings.push(`${target} is not empty (${state.count} objects); the restore will refuse to run without --clean.`);
    if (occupied && request.clean) warnings.push(`--clean drops and recreates every object of the backup that exists in ${target} (with CASCADE).`);
    if (!request.restoreOwner) warnings.push(`Objects will be owned by ${this.endpoint.user} (pass --restore-owner to keep the backup's owners).`);
    if (!request.restoreGrants) warnings.push('Grants are not restored (pass --restore-grants to apply them).');
    for (const w of manifest.warnings) warnings.push(`backup: ${w}`);
    warnings.push(...skipWarnings(manifest, this.strict));
    const bytes = new Map<string, number>();
    for (const p of manifest.parts) if (p.object) bytes.set(p.object, (bytes.get(p.object) ?? 0) + p.rawSize);
    return {
      target,
      targetExists: state.exists,
      targetEmpty: state.count === 0,
      effect: selective ? 'merge' : state.exists && state.count > 0 ? 'replace' : 'create',
      items: objects.map((o) => ({
        object: o.name,
        type: o.type,
        rows: o.rows,
        bytes: bytes.get(o.name) ?? 0,
        action: present.has(o.name) ? (request.clean ? 'replace' : 'skip') : 'create',
      })),
      warnings,
    };
  }

  restore(parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome> {
    // The plan's connection is handed on (restoreDatabase closes it); it is fresh only once.
    const opened = this.opened;
    this.opened = undefined;
    return restoreDatabase(this.endpoint, parts, { ...request, strict: this.strict }, signal, opened);
  }

  async close(): Promise<void> {
    await this.release();
    await this.changes.close().catch(() => undefined);
    await this.client.close();
  }

  private async release(): Promise<void> {
    const client = this.opened?.client;
    this.opened = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** The manifest objects a restore with these filters touches (partitions of chosen tables included). */
function chooseObjects(manifest: Manifest, request: RestoreRequest): ObjectEntry[] {
  const schemaOf = (name: string) => ((manifest.engineInfo.schemas as string[] | undefined) ?? []).filter((s) => name.startsWith(`${s}.`)).sort((a, b) => b.length - a.length)[0] ?? null;
  const pseudo = manifest.objects.map((o, i) => ({ id: i, kind: 'table' as const, section: 'pre-data' as const, schema: schemaOf(o.name), name: o.name, tables: [o.name], deps: [], sql: '' }));
  const excluded = new Set(resolveNames(pseudo, request.excludeTables ?? [], '--exclude-tables').map((p) => p.name));
  if (request.schemas) {
    const known = new Set(pseudo.map((p) => p.schema));
    const missing = request.schemas.filter((s) => !known.has(s));
    if (missing.length) throw new DbBackupError('E_USAGE', `Backup ${manifest.id} has no schema ${missing.map((m) => `"${m}"`).join(', ')}.`);
  }
  if (!request.tables && !request.schemas) return manifest.objects.filter((o) => !excluded.has(o.name));
  const chosen = new Set(resolveNames(pseudo, request.tables ?? [], '--tables').map((p) => p.name));
  for (const p of pseudo) if (p.schema !== null && request.schemas?.includes(p.schema)) chosen.add(p.name);
  return manifest.objects.filter((o) => chosen.has(o.name) && !excluded.has(o.name));
}
