import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { PendingSlot, PendingSlots, RepositoryDigest } from '../../application/ports/pending-slots.js';
import { DbBackupError } from '../../domain/errors.js';
import { syncFolder } from '../../infrastructure/files.js';
import { isAliveOnThisHost } from '../../infrastructure/processes.js';

/** What one record file holds (JSON, a few hundred bytes; repositories as digests, never URLs). */
type Stored = Omit<PendingSlot, 'alive'>;

/** A record is our own file, but read back bounded: a bigger one is not ours (or damaged). */
const MAX_RECORD_BYTES = 16 * 1024;
/** At most this many records are read (a folder filled by someone else is not scanned without end). */
const MAX_RECORDS = 1000;

export interface FilePendingSlotsOptions {
  /** The identity written into records; tests give a process that has ended. */
  pid?: number;
  host?: string;
}

/**
 * PendingSlots as files in a folder of the state folder (0700; files 0600), beside the run locks:
 * `<sha256 of source and slot>.json`, written to a temp name, synced, renamed and the folder
 * synced, so a record is on disk before the slot it announces exists. Liveness is judged as the
 * run locks judge it: the recording pid still runs on this host.
 */
export class FilePendingSlots implements PendingSlots {
  private readonly pid: number;
  private readonly host: string;

  constructor(
    private readonly dir: string,
    options: FilePendingSlotsOptions = {},
  ) {
    this.pid = options.pid ?? process.pid;
    this.host = options.host ?? hostname();
  }

  async record(source: string, slot: string, repositories: readonly RepositoryDigest[]): Promise<void> {
    const entry: Stored = { source, slot, pid: this.pid, host: this.host, since: new Date().toISOString(), repositories: [...repositories] };
    const file = this.file(source, slot);
    const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(entry));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      await syncFolder(this.dir);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw new DbBackupError('E_BACKUP_FAILED', `Could not record the capture slot about to be created in ${this.dir} (${(err as Error).message}); nothing was created on the server. Free space there or fix its permissions.`, { cause: err });
    }
  }

  async list(source: string): Promise<PendingSlot[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: PendingSlot[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).slice(0, MAX_RECORDS)) {
      const entry = await readRecord(join(this.dir, name));
      if (!entry || entry.source !== source) continue;
      out.push({ ...entry, alive: isAliveOnThisHost(entry) });
    }
    return out.sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
  }

  async forget(source: string, slot: string): Promise<void> {
    await unlink(this.file(source, slot)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  private file(source: string, slot: string): string {
    return join(this.dir, `${createHash('sha256').update(`${source}\0${slot}`).digest('hex').slice(0, 32)}.json`);
  }
}

/** A record file, checked field by field; undefined when absent, oversized or not a record. */
async function readRecord(file: string): Promise<Stored | undefined> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile() || info.size > MAX_RECORD_BYTES) return undefined;
  const raw = await readFile(file, 'utf8').catch(() => undefined);
  if (raw === undefined) return undefined;
  let v: Partial<Stored>;
  try {
    v = JSON.parse(raw) as Partial<Stored>;
  } catch {
    return undefined;
  }
  const text = (x: unknown, max: number): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;
  if (!v || !text(v.source, 200) || !text(v.slot, 63) || !text(v.host, 255) || !text(v.since, 40)) return undefined;
  if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return undefined;
  if (!Array.isArray(v.repositories) || v.repositories.length > 100 || !v.repositories.every((r) => text(r, 128))) return undefined;
  return { source: v.source, slot: v.slot, pid: v.pid as number, host: v.host, since: v.since, repositories: v.repositories };
}
