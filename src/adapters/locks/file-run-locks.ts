import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { HeldLock, RunLocks } from '../../application/ports/run-locks.js';
import { DbBackupError } from '../../domain/errors.js';
import { isAliveOnThisHost } from '../../infrastructure/processes.js';

/** What a lock file holds (JSON, a few hundred bytes; no repository URL, which may carry credentials). */
interface Holder {
  pid: number;
  host: string;
  since: string;
  token: string;
  what: string;
}

export interface FileRunLocksOptions {
  /** How often a held lock's file is touched (ms). */
  renewMs?: number;
  /** A lock not touched for this long is stale even if its pid runs (a hung process, a reused pid). */
  staleMs?: number;
}

/**
 * RunLocks as files in a folder of the state folder (0700; files 0600): `<sha256 of name>.lock`,
 * created with O_EXCL and holding the owner's pid, host and a random token; its mtime is renewed
 * every renewMs while held. A lock is live while its process runs on this host (another host's,
 * while it is renewed) and was renewed within staleMs. A stale lock is taken over under a short
 * guard file (`.takeover`, also O_EXCL), which makes "it is still that stale lock, remove it"
 * atomic between two processes taking over at once; then the lock is created as usual, so at most
 * one of them gets it.
 */
export class FileRunLocks implements RunLocks {
  private readonly renewMs: number;
  private readonly staleMs: number;

  constructor(
    private readonly dir: string,
    options: FileRunLocksOptions = {},
  ) {
    this.renewMs = options.renewMs ?? 10_000;
    this.staleMs = options.staleMs ?? 120_000;
  }

  async acquire(name: string, what: string): Promise<HeldLock> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${createHash('sha256').update(name).digest('hex').slice(0, 32)}.lock`);
    const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(12).toString('hex'), what };
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await createExclusive(file, JSON.stringify(me))) return this.held(file, me.token);
      const holder = await this.readHolder(file);
      if (!holder) continue; // released meanwhile
      if (holder.live) throw busy(what, holder.holder);
      await this.removeStale(file, holder.raw);
    }
    throw new DbBackupError('E_LOCKED', `Could not take the lock of ${what}: other processes keep taking it; retry.`);
  }

  /** The lock file's holder and whether it is live; undefined when there is none. */
  private async readHolder(file: string): Promise<{ raw: string; holder: Partial<Holder>; live: boolean } | undefined> {
    const [raw, info] = await Promise.all([readFile(file, 'utf8').catch(() => undefined), stat(file).catch(() => undefined)]);
    if (raw === undefined || !info) return undefined;
    let holder: Partial<Holder> = {};
    try {
      // Our own file, but bounded and checked: a damaged one (a crash while writing it) is stale.
      if (raw.length <= 4096) holder = JSON.parse(raw) as Partial<Holder>;
    } catch {
      holder = {};
    }
    const known = typeof holder.pid === 'number' && typeof holder.host === 'string';
    const renewed = Date.now() - info.mtimeMs < this.staleMs;
    // A damaged file is given the same grace as a live one would have to renew it.
    const alive = known ? isAliveOnThisHost(holder as Holder) : undefined;
    return { raw, holder, live: renewed && alive !== false };
  }

  /** Removes `file` if it still holds `raw` (the stale lock judged), under the takeover guard. */
  private async removeStale(file: string, raw: string): Promise<void> {
    const guard = `${file}.takeover`;
    if (!(await createExclusive(guard, String(process.pid)))) {
      // Another process is taking over; its guard lives a moment (a killed one's is stale after 10 s).
      const info = await stat(guard).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > 10_000) await unlink(guard).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return;
    }
    try {
      if ((await readFile(file, 'utf8').catch(() => undefined)) === raw) await unlink(file).catch(() => undefined);
    } finally {
      await unlink(guard).catch(() => undefined);
    }
  }

  private held(file: string, token: string): HeldLock {
    const ours = async () => {
      const raw = await readFile(file, 'utf8').catch(() => '');
      return raw.includes(`"token":"${token}"`);
    };
    const timer = setInterval(() => {
      void ours().then((yes) => (yes ? utimes(file, new Date(), new Date()) : undefined)).catch(() => undefined);
    }, this.renewMs);
    timer.unref();
    let released = false;
    return {
      async release() {
        if (released) return;
        released = true;
        clearInterval(timer);
        if (await ours()) await unlink(file).catch(() => undefined);
      },
    };
  }
}

/** Creates `file` (0600) holding `text` unless it exists; false when it does. */
async function createExclusive(file: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new DbBackupError('E_LOCKED', `Could not create the lock file ${file}: ${(err as Error).message}.`, { cause: err });
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  return true;
}

function busy(what: string, holder: Partial<Holder>): DbBackupError {
  const who = typeof holder.pid === 'number' ? `process ${holder.pid} on ${String(holder.host)}${holder.since ? ` since ${holder.since}` : ''}` : 'another process';
  return new DbBackupError('E_LOCKED', `Another dbbackup is already running ${what} (${who}); stop it first, or wait for it to finish.`, {
    details: { pid: holder.pid, host: holder.host, since: holder.since },
  });
}
