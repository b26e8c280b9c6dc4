import { open } from 'node:fs/promises';
import { redact } from '../../infrastructure/redact.js';

const TAIL_BYTES = 4 << 20;
const MAX_LINES = 200;

/**
 * The log lines of scheduled run `run` (of schedule `schedule`): JSON lines of the rotating log
 * file that carry its run id, read from the file's last 4 MiB only (older lines have rotated
 * away or are not worth a page). Each line is redacted again: the file is read back, not trusted.
 */
export async function runLogLines(file: string | undefined, run: { id: number; schedule: string }): Promise<string[]> {
  if (!file) return [];
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const lines = buffer.toString('utf8').split('\n');
    if (start > 0) lines.shift();
    const out: string[] = [];
    for (const line of lines) {
      if (!line.includes(`"run":${run.id}`)) continue;
      try {
        const entry = JSON.parse(line) as { run?: unknown; schedule?: unknown };
        if (entry.run === run.id && entry.schedule === run.schedule) out.push(redact(line.slice(0, 4000)));
      } catch {
        // A torn line at a rotation boundary: not this run's business.
      }
    }
    return out.slice(-MAX_LINES);
  } finally {
    await handle.close();
  }
}
