import type { Manifest, ObjectEntry } from '../../domain/manifest.js';
import type { CaptureSlots } from './capture-slots.js';
import type { ChangeCapture } from './change-capture.js';
import type { ContinuousCapture } from './continuous-capture.js';
import type { DumpRequest, DumpResult } from './dump.js';
import type { PartSink, PartSource } from './parts.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from './restore-plan.js';
import type { TableContents } from './table-contents.js';

/** One connection's worth of work against one database (a backup source or a restore target). */
export interface DatabaseSession {
  /** The server or file answers and the credentials work; throws E_CONN_REFUSED / E_AUTH otherwise. */
  test(): Promise<void>;
  /** The objects a dump with these filters would hold (no data read beyond counts). */
  inspect(filter: { tables?: string[]; excludeTables?: string[] }): Promise<ObjectEntry[]>;
  /** Writes a consistent snapshot as parts into `sink`. */
  dump(request: DumpRequest, sink: PartSink, signal: AbortSignal): Promise<DumpResult>;
  /** What restoring `manifest` into this target would do; changes nothing. */
  planRestore(manifest: Manifest, request: RestoreRequest): Promise<RestorePlan>;
  /** Restores from `parts`; refuses a non-empty target unless `request.clean` (E_TARGET_EXISTS). */
  restore(parts: PartSource, request: RestoreRequest, signal: AbortSignal): Promise<RestoreOutcome>;
  /** Releases the session's connections; the session is not used after. */
  close(): Promise<void>;
  /** Change capture, present exactly when the connector's capabilities have `changes`. */
  readonly changes?: ChangeCapture;
  /** What the engine's change capture keeps on the server (slots), offered by engines that keep any. */
  readonly slots?: CaptureSlots;
  /** Continuous capture (`replicate`), for engines that can follow their log; one per session. */
  readonly continuous?: ContinuousCapture;
  /** Per-table row counts and content hashes (`compare`), for engines that can read them. */
  readonly contents?: TableContents;
}
