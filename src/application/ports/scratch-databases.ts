import type { Manifest } from '../../domain/manifest.js';
import type { ConnectionTarget } from './connection-target.js';

/** Throwaway databases for `verify --deep`: a restore goes into one, which is dropped after. */
export interface ScratchDatabases {
  /**
   * A target for a database that does not exist yet (the restore creates it), on the server that
   * `server` names (its database is ignored); engines that keep a database in a file need no server
   * (a temp file). Throws E_USAGE when a server is needed and not given, E_UNSUPPORTED for a backup
   * this engine cannot restore into one scratch database.
   */
  allocate(server: ConnectionTarget | undefined, manifest: Manifest): Promise<ConnectionTarget>;
  /** Drops what `allocate` gave and the restore made in it; a scratch already gone is no error. */
  drop(target: ConnectionTarget): Promise<void>;
}
