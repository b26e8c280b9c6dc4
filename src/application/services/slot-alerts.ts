import { hostname } from 'node:os';
import type { CaptureSlot } from '../ports/capture-slots.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier, NotificationThrottle } from '../ports/notifier.js';
import { notifyAll } from './notify.js';

/** The default warning threshold: 1 GiB of retained log. */
export const DEFAULT_SLOT_WARN_BYTES = 1024 ** 3;

/** What needs attention among `slots`: lost, at risk, or holding more than `warnBytes`. */
export function slotWarnings(slots: readonly CaptureSlot[], warnBytes: number): string[] {
  const out: string[] = [];
  for (const s of slots) {
    if (s.health === 'lost') {
      out.push(`The server invalidated the capture slot ${s.name} (wal_status = lost): the chain through it has ended, so the next backup must be a full; drop the slot (dbbackup slot drop SOURCE).`);
    } else if (s.retainedBytes !== null && s.retainedBytes > warnBytes) {
      out.push(`The capture slot ${s.name} holds ${gib(s.retainedBytes)} of WAL on the server (over the ${gib(warnBytes)} of slot-warn-bytes): run a backup to confirm it, or drop it (dbbackup slot drop SOURCE) if the source is no longer backed up.`);
    } else if (s.health === 'at-risk') {
      out.push(`The capture slot ${s.name} is past max_slot_wal_keep_size (wal_status = unreserved): the server may invalidate it at the next checkpoint; run a backup now.`);
    }
  }
  return out;
}

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/**
 * Logs each warning and sends one notification (task `slot`): outcome `failure` with E_SLOT_LOST
 * when a slot was lost, else `partial` (so `on: [failure, partial]` alerts get it). Nothing when
 * there is nothing to say; a notifier that fails is logged, never thrown.
 */
export async function alertSlots(
  deps: { logger: Logger; clock: Clock; notifiers?: Notifier[]; throttle?: NotificationThrottle },
  source: string,
  slots: readonly CaptureSlot[],
  warnings: readonly string[],
): Promise<void> {
  if (warnings.length === 0) return;
  for (const w of warnings) deps.logger.warn(w, { source });
  if (!deps.notifiers?.length) return;
  const lost = slots.some((s) => s.health === 'lost');
  const now = deps.clock.now();
  await notifyAll(
    deps.notifiers,
    {
      outcome: lost ? 'failure' : 'partial',
      task: 'slot',
      source,
      ...(lost ? { error: { code: 'E_SLOT_LOST', message: warnings.join(' ') } } : {}),
      warnings: [...warnings],
      at: now.toISOString(),
      host: hostname(),
    },
    { logger: deps.logger, throttle: deps.throttle, now },
  );
}
