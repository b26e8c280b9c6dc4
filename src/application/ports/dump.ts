import type { BackupKind } from '../../domain/backup-kind.js';
import type { ObjectEntry } from '../../domain/manifest.js';

/** Filters of a dump; names are engine-qualified as in ObjectEntry.name. */
export interface DumpRequest {
  kind: BackupKind;
  tables?: string[];
  excludeTables?: string[];
  parallel: number;
  /** The source's name, for names an engine derives from it on the server (PostgreSQL's capture slot). */
  source?: string;
  /**
   * Told what the engine waits for on the server while nothing flows (PostgreSQL: creating the
   * capture slot waits for the transactions running now), and `undefined` once it goes on: a
   * progress line shows it on a terminal.
   */
  status?: (waitingFor: string | undefined) => void;
  /**
   * Change capture: told the name of the capture slot the engine is about to create on the server
   * (PostgreSQL's logical slot), BEFORE it creates it; the engine awaits it, and creates nothing
   * when it throws. The caller records the name durably (PendingSlots), so that a run killed before
   * its backup is complete leaves a slot that a later run recognises as its and drops.
   */
  beforeSlot?: (slot: string) => Promise<void>;
  /**
   * Told the engine's estimate of the raw bytes its data parts will hold, when it has one (a
   * server's table sizes): a progress line then shows a percentage and the time left.
   */
  estimate?: (bytes: number) => void;
}

/** What a dump reports for the manifest (its parts went through the PartSink). */
export interface DumpResult {
  serverVersion: string;
  consistentAt: Date;
  /** Where the engine's change log stood at the snapshot (LSN, binlog, oplog time, page map); opaque to the core. */
  logPosition: Record<string, unknown> | null;
  objects: ObjectEntry[];
  warnings: string[];
  engineInfo: Record<string, unknown>;
  /** Set by a differential that folded stored links (ChangeBatch.replaysFrom): its restorable range starts there. */
  replaysFrom?: Date;
}
