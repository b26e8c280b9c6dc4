import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HostProbe } from '../../application/ports/host-probe.js';

/** HostProbe through node:fs (statfs for free space). */
export class FsHostProbe implements HostProbe {
  async freeBytes(path: string): Promise<number> {
    for (let p = path; ; p = dirname(p)) {
      try {
        const s = await statfs(p);
        return s.bavail * s.bsize;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw err;
      }
    }
  }

  async fileMode(path: string): Promise<number | undefined> {
    try {
      return (await stat(path)).mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
