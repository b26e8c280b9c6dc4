/**
 * Every secret value this process has seen (passwords, keys, tokens, webhook URLs). Log lines,
 * error messages and printed config pass through `redact()`, so a secret cannot leak by accident.
 */
const secrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 3) {
    secrets.add(value);
    for (const v of [encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) if (v !== value) secrets.add(v);
  }
}

/** Replaces every registered secret, and any password in a URL's user-info, with `[redacted]`. */
export function redact(text: string): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)([^@\s/]+)@/gi, '$1[redacted]@');
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join('[redacted]');
  return out;
}

export function clearSecretsForTests(): void {
  secrets.clear();
}
