import type { CloudScheme } from './storage-options.js';

/** Where the warning goes; stderr by default, because it must show even under --quiet and --json. */
export type WarningSink = (text: string) => void;

const warned = new Set<string>();

const stderrSink: WarningSink = (text) => {
  process.stderr.write(text);
};

/**
 * Prints, once per process (one CLI run) for each scheme and endpoint, that TLS certificate
 * verification is off for it. Written straight to stderr rather than through the logger or
 * `process.emitWarning`: log levels, --quiet and NODE_NO_WARNINGS must not silence it.
 */
export function warnInsecure(scheme: CloudScheme, rawEndpoint: string, sink: WarningSink = stderrSink): void {
  // No user:password@ or query string (a SAS) in the text.
  const endpoint = rawEndpoint.replace(/\/\/[^/@]*@/, '//').replace(/\?.*$/, '');
  const key = `${scheme} ${endpoint}`;
  if (warned.has(key)) return;
  warned.add(key);
  sink(insecureWarningText(scheme, endpoint));
}

export function insecureWarningText(scheme: CloudScheme, endpoint: string): string {
  if (/^http:/i.test(endpoint)) {
    return (
      `WARNING: ${scheme}:// endpoint ${endpoint} is plain HTTP: no TLS at all, so --insecure changes nothing there; ` +
      `credentials and backups cross the network unencrypted. Use an https:// endpoint.\n`
    );
  }
  return (
    `WARNING: TLS certificate verification is OFF for ${scheme}:// at ${endpoint} ` +
    `(--insecure, DBBACKUP_STORAGE_INSECURE or a target's "insecure: true"). Anyone on the network path can ` +
    `impersonate this endpoint and read or alter your backups and credentials. Safer: trust the endpoint's CA ` +
    `with NODE_EXTRA_CA_CERTS=/path/to/ca.pem and drop --insecure.\n`
  );
}

/** Forgets what was printed (tests only). */
export function resetInsecureWarnings(): void {
  warned.clear();
}
