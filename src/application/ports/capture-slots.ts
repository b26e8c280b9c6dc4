/**
 * What an engine keeps on its server so that the changes since a backup can still be read: a
 * PostgreSQL logical replication slot (and its publication), MySQL's binlog retention, MongoDB's
 * oplog window. It holds log on the server until released, so it is shown (`slot list`, `list`,
 * `schedule status`, `doctor`), watched (a warning past a threshold) and dropped on request.
 */
export interface CaptureSlot {
  /** The slot's name on the server (`dbbackup_<source>_<suffix>`). */
  name: string;
  /** The source part of its name (`dbbackup_<source>`): the name a backup source's capture uses. */
  captureName: string;
  /** What else the capture keeps on the server for it (PostgreSQL: the publication). */
  publication?: string;
  /** Someone reads from it right now (a backup running). */
  active: boolean;
  /**
   * `ok` while the server keeps all it needs; `at-risk` when it may soon give it up (PostgreSQL
   * `wal_status` unreserved); `lost` when it gave it up (`wal_status = lost`): the chain through it ends.
   */
  health: 'ok' | 'at-risk' | 'lost';
  /** The server's own word for it (PostgreSQL `wal_status`: reserved, extended, unreserved, lost). */
  serverStatus: string | null;
  /** Log the server keeps for it now, in bytes (null when unknown, e.g. lost). */
  retainedBytes: number | null;
  /** How many more bytes of log may be written before the server gives it up (null: no limit set). */
  safeBytes: number | null;
  /** The position confirmed to the server (backups complete in every target reached it). */
  confirmed: string | null;
}

/** One requirement of change capture on this server, checked up front. */
export interface CaptureRequirement {
  /** The setting or attribute concerned (`wal_level`, `REPLICATION`, `max_replication_slots` …). */
  setting: string;
  /** `error`: capture cannot start; `warning`: it works, but something should change. */
  severity: 'error' | 'warning';
  /** What is wrong and how to fix it, naming the setting. */
  message: string;
}

/** A session's view of its server's capture slots; offered as `session.slots` by engines that capture changes. */
export interface CaptureSlots {
  /** The capture slots of this database, only those of `captureName` (see captureNameOf) when given; changes nothing. */
  list(captureName?: string): Promise<CaptureSlot[]>;
  /** The capture name a backup source's slots carry (`dbbackup_<source>`), as list() reports it. */
  captureNameOf(source: string): string;
  /**
   * Drops every slot of `captureName` and what the capture set up with them (the publication, and
   * the DDL capture once no capture is left); returns what was dropped. A slot someone reads from
   * is not dropped: E_BACKUP_FAILED naming it.
   */
  drop(captureName: string): Promise<{ slots: string[]; publication?: string; ddlCapture?: boolean }>;
  /**
   * Drops the one capture slot `name` (a `dbbackup_…` slot; its publication stays): true when it
   * was dropped, false when there is none of that name. E_USAGE for a name that is not a dbbackup
   * capture slot's; a slot someone reads from is not dropped: E_BACKUP_FAILED naming it.
   */
  dropSlot(name: string): Promise<boolean>;
  /** The server's settings for change capture, each problem naming the setting and its fix (empty: all good). */
  requirements(): Promise<CaptureRequirement[]>;
}
