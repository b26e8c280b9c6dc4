/** What a connector can do; the core decides what to offer (and to refuse) from these. */
export interface ConnectorCapabilities {
  incremental: boolean;
  pointInTime: boolean;
  selectiveRestore: boolean;
  /** True when a failed restore leaves the target as it was (so parts may be verified while streaming). */
  atomicRestore: boolean;
  /**
   * True when the connector's restore honours PartSource.checked: it may read the schema part and
   * look at the target while the stored bytes are checked, and awaits `checked` before it changes
   * anything. Otherwise the restore starts only after the checks passed.
   */
  prepareDuringChecks?: boolean;
  /** Present when every session offers change capture as `session.changes` (see change-capture.ts). */
  changes?: {
    /** Changes since the last full (not only since the parent) can be read. */
    differential: boolean;
    /** Applying changes can stop at a time (`restore --at`). */
    pointInTime: boolean;
    /**
     * applyChanges honours the tables of the session's last restore (`restore --tables`): a chain
     * restores chosen tables by restoring them from the full, then applying only their changes.
     */
    selective?: boolean;
    /**
     * applyChanges takes `onto` (`restore --changes-only`): it can tell from the target's own state
     * which changes it already holds (MariaDB: GTIDs) and skip them.
     */
    skipsApplied?: boolean;
  };
}
