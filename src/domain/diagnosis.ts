/**
 * What `dbbackup doctor` reports: one finding per check and subject, each failing or warning one
 * with the fix, in words a user can act on. Pure data and the exit-code rule; the checks live in
 * application/doctor (generic ones) and in the connectors (engine-specific ones).
 */
export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** What was checked: `source main`, `target s3`, `host`, `schedule main-nightly`. */
  subject: string;
  /** A stable id of the check (`reachability`, `tls`, `privileges.backup`, `probe`, `clock`, …). */
  check: string;
  status: FindingStatus;
  /** What was found, one line, never a secret. */
  message: string;
  /** What to do about it (set for every warn and fail). */
  fix?: string;
}

/** 0 when every check passed, 5 when some only warn, 1 when one failed (README's exit-code table). */
export function doctorExitCode(findings: readonly Finding[]): 0 | 1 | 5 {
  if (findings.some((f) => f.status === 'fail')) return 1;
  if (findings.some((f) => f.status === 'warn')) return 5;
  return 0;
}

export const ok = (subject: string, check: string, message: string): Finding => ({ subject, check, status: 'ok', message });
export const warn = (subject: string, check: string, message: string, fix: string): Finding => ({ subject, check, status: 'warn', message, fix });
export const fail = (subject: string, check: string, message: string, fix: string): Finding => ({ subject, check, status: 'fail', message, fix });
