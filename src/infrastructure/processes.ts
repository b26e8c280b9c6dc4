import { hostname } from 'node:os';

/** True while a process with this pid exists on this host (EPERM: it exists, owned by another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process on this host is alive iff it exists; on another host we cannot tell (undefined). */
export function isAliveOnThisHost(holder: { host: string; pid: number }): boolean | undefined {
  return holder.host === hostname() ? isProcessAlive(holder.pid) : undefined;
}
