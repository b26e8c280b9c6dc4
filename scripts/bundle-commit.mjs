import { execFileSync } from 'node:child_process';

/** The commit `dbbackup --version` names (a tarball or executable built outside git says unknown). */
export function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], { cwd: new URL('..', import.meta.url), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
