import type { Schedule } from '../../domain/schedule.js';

/** One delivery of a schedule's slot by the queue. */
export interface QueuedSlot {
  schedule: string;
  /** The cron slot the queue fired for. */
  slot: Date;
  /** The queue's id of the delivery (stable across redeliveries of one slot). */
  id: string;
}

/** What a worker tells the queue about a delivery: done (whatever the run's outcome), or deliver it again later. */
export type SlotDisposition = { kind: 'done' } | { kind: 'retry'; afterMs: number };

export interface QueueStats {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  /** The oldest job that is due (waiting, or delayed past its time), with when it fell due. */
  oldestDue?: { schedule: string; dueAt: Date };
  /** The schedules the queue fires, with their next firing. */
  schedulers: { name: string; next?: Date }[];
}

/**
 * A distributed job queue that fires each schedule's slots exactly once however many publishers
 * and workers run (BullMQ job schedulers on Redis), and hands a delivery whose worker died to
 * another worker after its stall timeout.
 */
export interface JobQueue {
  /** Makes the queue fire exactly `schedules` (adds and updates them, removes others); idempotent. */
  publish(schedules: Schedule[]): Promise<void>;
  /**
   * Takes deliveries, up to `concurrency` at once, and hands each to `handle` until `signal`
   * aborts; then waits for the deliveries in hand and resolves.
   */
  consume(handle: (slot: QueuedSlot, signal: AbortSignal) => Promise<SlotDisposition>, concurrency: number, signal: AbortSignal): Promise<void>;
  /** Counts and the oldest due delivery, for `fleet status`. */
  stats(now: Date): Promise<QueueStats>;
  /** Releases the connections. */
  close(): Promise<void>;
}
