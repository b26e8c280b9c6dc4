import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { PartSink, PartSource } from '../../../application/ports/parts.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { ObjectEntry, PartEntry } from '../../../domain/manifest.js';
import { dataPartName } from '../../../domain/repository-layout.js';
import { splitParts } from './postgres-copy-out.js';
import type { Task } from './postgres-load.js';

/**
 * Large objects (pg_largeobject), as pg_dump keeps them: their metadata (lo_create, owner, grants,
 * comment) as pre-data items in batches (postgres-blob-items), their bytes as data parts in the text COPY format of
 * pg_largeobject itself (`loid  pageno  data`, 2 KiB pages as LOBLKSIZE), so a superuser could
 * load a part with `COPY pg_largeobject FROM` after the lo_create calls. Read with lo_get in the
 * backup's snapshot; written back with lo_put in runs of up to 1 MiB.
 */
export const LARGE_OBJECTS = 'pg_catalog.pg_largeobject';
const PAGE = 2048;
const READ = 1 << 20;

/** Streams every large object's bytes into parts of about `partSize` bytes; returns the manifest entry. */
export async function dumpLargeObjects(client: pg.Client, oids: number[], sink: PartSink, signal: AbortSignal, partSize: number): Promise<ObjectEntry> {
  let pages = 0;
  let bytes = 0;
  async function* lines(): AsyncGenerator<Buffer> {
    for (const oid of oids) {
      for (let offset = 0; ; offset += READ) {
        signal.throwIfAborted();
        const data = ((await client.query({ text: 'SELECT pg_catalog.lo_get($1::oid, $2::bigint, $3::int) AS d', values: [oid, offset, READ] })).rows[0] as { d: Buffer }).d;
        const out: string[] = [];
        for (let at = 0; at < data.length; at += PAGE) {
          out.push(`${oid}\t${(offset + at) / PAGE}\t\\\\x${data.subarray(at, at + PAGE).toString('hex')}\n`);
          pages++;
        }
        if (out.length) yield Buffer.from(out.join(''), 'latin1');
        if (data.length < READ) break;
      }
    }
  }
  let n = 0;
  await splitParts(lines(), partSize, async (body: Readable) => {
    const entry = await sink.write({ name: dataPartName(LARGE_OBJECTS, n++, 'copy'), role: 'data', object: LARGE_OBJECTS }, body);
    bytes += entry.rawSize;
  });
  return { name: LARGE_OBJECTS, type: 'large objects', rows: pages, rawBytes: bytes };
}

/** A restore task writing the large objects' bytes (the objects themselves exist from pre-data). */
export function largeObjectsTask(id: number, parts: PartEntry[], source: PartSource): Task {
  return {
    id,
    label: 'data of large objects',
    deps: [],
    exclusive: [],
    shared: [],
    async run(client, signal) {
      let oid = -1;
      let start = 0;
      let run: Buffer[] = [];
      let size = 0;
      const flush = async () => {
        if (size > 0) await client.query({ text: 'SELECT pg_catalog.lo_put($1::oid, $2::bigint, $3::bytea)', values: [oid, start, Buffer.concat(run, size)] });
        run = [];
        size = 0;
      };
      for (const part of parts) {
        for await (const line of splitLines(await source.open(part), `${part.name} of backup ${source.manifest.id}`)) {
          signal.throwIfAborted();
          const [o, p, hex] = line.split('\t');
          const loid = Number(o);
          const offset = Number(p) * PAGE;
          if (loid !== oid || offset !== start + size || size >= READ) {
            await flush();
            oid = loid;
            start = offset;
          }
          const data = Buffer.from(hex!.slice(3), 'hex');
          run.push(data);
          size += data.length;
        }
      }
      await flush();
    },
  };
}

/** A page line is about 4 KiB (`loid pageno \\x` and 2 KiB in hex); anything far longer is not one. */
const MAX_LINE = 1 << 20;

async function* splitLines(stream: Readable, what: string): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of stream) {
    const text = rest + (chunk as Buffer).toString('latin1');
    const lines = text.split('\n');
    rest = lines.pop()!;
    if (rest.length > MAX_LINE) {
      throw new DbBackupError('E_FOREIGN_ARCHIVE', `${what} has a line over 1 MiB: it is not a large-object part; the backup is damaged.`);
    }
    yield* lines;
  }
  if (rest) yield rest;
}
