import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MAX_PROGRESS_FILE, parseProgressRecord, type ProgressRecord } from '../progress/progress-file.js';
import { isProcessAlive } from '../../infrastructure/processes.js';
import { progressLine } from '../../infrastructure/progress.js';
import type { LiveEvents } from './live-events.js';

/** More files than this in the folder are not looked at (a run writes one). */
const MAX_FILES = 64;

/**
 * Forwards the progress of runs in other processes (the scheduler daemon's jobs write
 * `<data dir>/progress/<run>.json`, see FileProgress) to the open pages: the folder is read every
 * `intervalMs`; a new or changed record is published as a progress event (the CLI's line), a
 * record that is gone as its last one (`done`). Files are untrusted: bounded reads, malformed
 * ones ignored, and so are those of a process on this host that no longer exists (a crashed run).
 * Returns a function that stops watching.
 */
export function watchDaemonProgress(folder: string, events: LiveEvents, intervalMs = 1000): () => void {
  const known = new Map<string, ProgressRecord>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const seen = new Set<string>();
    for (const record of await readRecords(folder)) {
      seen.add(record.run);
      const before = known.get(record.run);
      known.set(record.run, record);
      if (!before || before.at !== record.at || before.bytes !== record.bytes) publish(events, record, false);
    }
    for (const [run, record] of known) {
      if (seen.has(run)) continue;
      known.delete(run);
      publish(events, record, true);
    }
  };
  const loop = () => {
    if (stopped) return;
    void tick()
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, intervalMs);
      });
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function publish(events: LiveEvents, r: ProgressRecord, done: boolean): void {
  const state = { label: r.label, bytes: r.bytes, total: r.total, elapsedMs: r.elapsedMs, object: r.object };
  events.publish({ type: 'progress', run: r.run, schedule: r.schedule, source: r.source, ...state, line: progressLine(state), done });
}

async function readRecords(folder: string): Promise<ProgressRecord[]> {
  let names: string[];
  try {
    names = (await readdir(folder)).filter((n) => /^[\w-]{1,64}\.json$/.test(n)).slice(0, MAX_FILES);
  } catch {
    return [];
  }
  const records: ProgressRecord[] = [];
  for (const name of names) {
    const record = parseProgressRecord(await readBounded(join(folder, name)));
    if (!record || record.run !== name.slice(0, -'.json'.length)) continue;
    if (record.host === hostname() && !isProcessAlive(record.pid)) continue;
    records.push(record);
  }
  return records;
}

/** At most MAX_PROGRESS_FILE + 1 bytes of a file ('' when it is gone or not a regular file). */
async function readBounded(path: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    if (!(await handle.stat()).isFile()) return '';
    const buffer = Buffer.alloc(MAX_PROGRESS_FILE + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}
