import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { objectName, qualified, quote, readCatalog, schemaScript, selectObjects } from './catalog.js';

/**
 * DuckDB database files. A backup reads every table in one transaction (one snapshot) and writes
 * each as a Parquet part whose columns hold DuckDB's own text form of the values (Parquet cannot
 * carry HUGEINT, negative INTERVALs and others exactly; DuckDB's casts to and from VARCHAR can).
 * DuckDB writes the Parquet file to a temporary folder, so no table is ever held in memory. A
 * restore runs in one transaction: it leaves the target as it was when anything fails.
 */
export class DuckdbConnector {
  /** @param {import('dbbackup/plugin').PluginHost} host */
  constructor(host, capabilities) {
    this.host = host;
    this.engine = 'duckdb';
    this.capabilities = capabilities;
  }

  async connect(target) {
    if (!target.database) throw new this.host.DbBackupError('E_USAGE', 'Name the DuckDB database file with --database PATH (or --file PATH).');
    const threads = target.options?.threads;
    return new DuckdbSession(this.host, resolve(target.database), typeof threads === 'number' ? { threads: String(threads) } : {});
  }

  defaultSourceName(target) {
    return this.host.sourceNameFrom(basename(target.database ?? 'duckdb'));
  }
}

class DuckdbSession {
  constructor(host, path, settings) {
    this.host = host;
    this.path = path;
    this.settings = settings;
  }

  /** Opens the file read-only (the source must exist) or read-write (a restore target is created). */
  async open(mode) {
    if (mode === 'READ_ONLY' && !(await fileExists(this.path))) throw new this.host.DbBackupError('E_NOT_FOUND', `${this.path} does not exist.`);
    try {
      const instance = await DuckDBInstance.create(this.path, { ...this.settings, access_mode: mode });
      return { instance, conn: await instance.connect() };
    } catch (err) {
      throw new this.host.DbBackupError('E_SOURCE_INVALID', `Cannot open ${this.path} as a DuckDB database: ${err.message}`, { cause: err });
    }
  }

  async test() {
    close(await this.open('READ_ONLY'));
  }

  async inspect(filter) {
    const db = await this.open('READ_ONLY');
    try {
      const chosen = selectObjects((await readCatalog(db.conn)).objects, filter, this.host, this.path);
      for (const o of chosen) if (o.type === 'table') o.rows = await count(db.conn, o);
      return chosen.map(({ name, type, rows }) => (rows === undefined ? { name, type } : { name, type, rows }));
    } finally {
      close(db);
    }
  }

  async dump(request, sink, signal) {
    const db = await this.open('READ_ONLY');
    const scratch = await mkdtemp(join(tmpdir(), 'dbbackup-duckdb-'));
    try {
      await db.conn.run('BEGIN TRANSACTION');
      const consistentAt = new Date();
      const catalog = await readCatalog(db.conn);
      const chosen = selectObjects(catalog.objects, request, this.host, this.path);
      await sink.write({ name: 'schema.sql', role: 'schema' }, Readable.from([Buffer.from(schemaScript(catalog, chosen), 'utf8')]));
      const objects = [];
      for (const [i, o] of chosen.entries()) {
        signal.throwIfAborted();
        if (o.type !== 'table') {
          objects.push({ name: o.name, type: o.type });
          continue;
        }
        const file = join(scratch, `${i}.parquet`);
        const text = o.columns.map((c) => `${quote(c.name)}::VARCHAR AS ${quote(c.name)}`).join(', ');
        await db.conn.run(`COPY (SELECT ${text} FROM ${qualified(o)}) TO '${file.replace(/'/g, "''")}' (FORMAT parquet)`);
        const rows = await count(db.conn, o);
        const { size } = await stat(file);
        const part = `data/${i}-${o.name.replace(/[^A-Za-z0-9._-]/g, '_')}.parquet`;
        await sink.write({ name: part, role: 'data', object: o.name, rawSize: size }, createReadStream(file, { highWaterMark: 1 << 20 }));
        await rm(file, { force: true });
        objects.push({ name: o.name, type: 'table', rows, rawBytes: size });
      }
      await db.conn.run('COMMIT');
      const [{ v }] = (await db.conn.runAndReadAll('SELECT version() AS v')).getRowObjectsJson();
      return {
        serverVersion: v,
        consistentAt,
        logPosition: null,
        objects,
        warnings: [],
        engineInfo: { schemas: catalog.schemas, types: catalog.types, objects: chosen, valueEncoding: 'varchar-parquet' },
      };
    } finally {
      close(db);
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async planRestore(manifest, request) {
    const { chosen, present, exists } = await this.scope(manifest, request);
    const occupied = request.tables ? chosen.some((o) => present.has(o.name)) : present.size > 0;
    const bytes = new Map(manifest.parts.filter((p) => p.object).map((p) => [p.object, p.rawSize]));
    return {
      target: this.path,
      targetExists: exists,
      targetEmpty: present.size === 0,
      effect: request.tables ? 'merge' : exists && present.size > 0 ? 'replace' : 'create',
      items: chosen.map((o) => ({
        object: o.name,
        type: o.type,
        rows: manifest.objects.find((m) => m.name === o.name)?.rows,
        bytes: bytes.get(o.name) ?? 0,
        action: present.has(o.name) ? (request.clean ? 'replace' : 'skip') : 'create',
      })),
      warnings: occupied && !request.clean ? [`${this.path} is not empty; the restore will refuse to run without --clean.`] : [],
    };
  }

  async restore(parts, request, signal) {
    const info = parts.manifest.engineInfo;
    const { chosen, present, exists } = await this.scope(parts.manifest, request);
    const occupied = request.tables ? chosen.filter((o) => present.has(o.name)) : [...present.keys()];
    if (occupied.length && !request.clean) {
      throw new this.host.DbBackupError('E_TARGET_EXISTS', `${this.path} already has ${occupied.slice(0, 5).join(', ')}; pass --clean to replace, or restore to a new file.`);
    }
    const db = await this.open('READ_WRITE');
    const scratch = await mkdtemp(join(tmpdir(), 'dbbackup-duckdb-'));
    try {
      await db.conn.run('BEGIN TRANSACTION');
      // Views first: they may depend on the tables being replaced.
      const drop = request.tables ? chosen.filter((o) => present.has(o.name)).map((o) => present.get(o.name)) : [...present.values()];
      for (const o of drop.sort((a, b) => (a.type === b.type ? 0 : a.type === 'view' ? -1 : 1))) await db.conn.run(`DROP ${o.type === 'view' ? 'VIEW' : 'TABLE'} ${qualified(o)}`);
      for (const s of info.schemas) await db.conn.run(`CREATE SCHEMA IF NOT EXISTS ${quote(s)}`);
      const types = new Set((await db.conn.runAndReadAll("SELECT schema_name, type_name FROM duckdb_types() WHERE NOT internal AND logical_type = 'ENUM'")).getRowObjectsJson().map((t) => objectName(t.schema_name, t.type_name)));
      for (const t of info.types) if (!types.has(t.name)) await db.conn.run(t.sql);
      let rows = 0;
      for (const o of chosen.filter((x) => x.type === 'table')) {
        await db.conn.run(o.sql);
        for (const part of parts.manifest.parts.filter((p) => p.role === 'data' && p.object === o.name)) {
          const file = join(scratch, 'part.parquet');
          await pipeline(await parts.open(part), createWriteStream(file, { highWaterMark: 1 << 20 }), { signal });
          const typed = o.columns.map((c) => `CAST(${quote(c.name)} AS ${c.type})`).join(', ');
          await db.conn.run(`INSERT INTO ${qualified(o)} SELECT ${typed} FROM read_parquet('${file.replace(/'/g, "''")}')`);
          await rm(file, { force: true });
        }
        for (const index of o.indexes) await db.conn.run(index);
        rows += parts.manifest.objects.find((m) => m.name === o.name)?.rows ?? 0;
      }
      for (const v of chosen.filter((x) => x.type === 'view')) await db.conn.run(v.sql);
      signal.throwIfAborted();
      await db.conn.run('COMMIT');
      return { objects: chosen.map((o) => o.name), rows };
    } catch (err) {
      await db.conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      close(db);
      await rm(scratch, { recursive: true, force: true });
      // A target this restore created stays only when the restore went through.
      if (!exists && !(await holdsObjects(this))) for (const f of [this.path, `${this.path}.wal`]) await rm(f, { force: true });
    }
  }

  async close() {}

  /** The backup's objects a restore with these filters touches, and what the target already has. */
  async scope(manifest, request) {
    const info = manifest.engineInfo;
    if (info?.valueEncoding !== 'varchar-parquet' || !Array.isArray(info.objects)) {
      throw new this.host.DbBackupError('E_FOREIGN_ARCHIVE', `Backup ${manifest.id} lacks the DuckDB details a restore needs (engineInfo.objects).`);
    }
    const chosen = selectObjects(info.objects, request, this.host, `Backup ${manifest.id}`);
    const exists = await fileExists(this.path);
    const present = new Map();
    if (exists) {
      const parent = await stat(dirname(this.path)).catch(() => undefined);
      if (!parent) throw new this.host.DbBackupError('E_NOT_FOUND', `The folder ${dirname(this.path)} does not exist; create it first.`);
      const db = await this.open('READ_ONLY');
      try {
        for (const o of (await readCatalog(db.conn)).objects) present.set(o.name, o);
      } finally {
        close(db);
      }
    }
    return { chosen, present, exists };
  }
}

async function count(conn, o) {
  const [{ n }] = (await conn.runAndReadAll(`SELECT count(*)::VARCHAR AS n FROM ${qualified(o)}`)).getRowObjectsJson();
  return Number(n);
}

async function holdsObjects(session) {
  if (!(await fileExists(session.path))) return false;
  const db = await session.open('READ_ONLY').catch(() => undefined);
  if (!db) return true;
  try {
    return (await readCatalog(db.conn)).objects.length > 0;
  } finally {
    close(db);
  }
}

function close(db) {
  db.conn.closeSync();
  db.instance.closeSync();
}

async function fileExists(path) {
  return (await stat(path).catch(() => undefined))?.isFile() === true;
}

