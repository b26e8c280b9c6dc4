import type { Manifest } from '../../domain/manifest.js';
import type { LogPosition } from '../ports/change-capture.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { KeyEncryptionKey } from '../ports/key-encryption-key.js';
import type { RestoreOutcome, RestorePlan, RestoreRequest } from '../ports/restore-plan.js';
import type { ManifestTrust } from '../services/manifest-auth.js';

/** What RestoreBackup takes and returns; restore-chain.ts shares them (kept apart so neither imports the other). */
export interface RestoreBackupInput {
  /** Repository or archive; when omitted, the catalog's record of `backup` says where it is. */
  repository?: string;
  backup: string;
  source?: string;
  target: ConnectionTarget;
  tables?: string[];
  clean: boolean;
  dryRun?: boolean;
  /** Engine-specific restore choices (--schemas, --create, --parallel, --restore-owner …), passed to the connector as is. */
  options?: Omit<RestoreRequest, 'tables' | 'clean'>;
  /** Keys that may open an encrypted backup. */
  keys?: KeyEncryptionKey[];
  /** What the backup must prove before anything is restored (services/manifest-auth.ts). */
  trust?: ManifestTrust;
  /**
   * The source's other targets: read from when `repository` cannot be reached or lacks the backup;
   * for `latest`, the newest backup among the reachable ones is restored.
   */
  fallbacks?: string[];
  /**
   * Restore the newest state at or before this instant (`latest`: the newest restorable point),
   * through the cheapest chain that reaches it (see planChainRestore); `backup` then narrows the
   * choice only when it is not `latest`.
   */
  at?: Date | 'latest';
  /**
   * Restore the state at a place in the engine's change log instead (`--at-gtid` → `{ gtid }`,
   * `--at-position` → `{ position }`, as typed): the chain to `backup`, up to the link that reaches
   * it (DatabaseConnector.locateLogPosition), replayed up to it. Not with `at`.
   */
  atLog?: LogPosition;
  /** The current time: an `at` after it is refused as a typo. */
  now?: Date;
}

/** One backup a chain restore applies, as `--dry-run` shows it. */
export interface RestoreLink {
  id: string;
  kind: Manifest['kind'];
  /** The parent it applies on (null for the full). */
  parent: string | null;
  /** The instants it restores to (equal for a full or a link without replay). */
  from: string;
  to: string;
  storedBytes: number;
  /** Changes it holds (pages, statements, events), when the engine counted them. */
  changes?: number;
}

/** The chain a restore uses and the exact point it reaches. */
export interface RestoreChainView {
  links: RestoreLink[];
  /** ISO instant the restored state is consistent at. */
  point: string;
  /** Replay of the last link stops here (null: applied whole). */
  stopAt: string | null;
  storedBytes: number;
  windows: { from: string; to: string }[];
}

export interface RestoreBackupResult {
  manifest: Manifest;
  plan: RestorePlan;
  dryRun: boolean;
  outcome?: RestoreOutcome;
  chain: RestoreChainView;
}
