/** One target's outcome for one backup run, as the catalog keeps it. */
export interface TargetOutcomeRecord {
  repository: string;
  ok: boolean;
  errorCode?: string;
  errorMessage?: string;
}

/** How each target of a multi-target backup run fared; unlike the backup index, not rebuilt from repositories. */
export interface TargetOutcomes {
  /** Records (or replaces) how each target of the backup run `backupId` of `source` fared, failed ones too. */
  recordOutcomes(source: string, backupId: string, outcomes: TargetOutcomeRecord[]): Promise<void>;
  /** The outcomes recorded for that run, in the order given; empty when none were. */
  outcomes(source: string, backupId: string): Promise<TargetOutcomeRecord[]>;
}
