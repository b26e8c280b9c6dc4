/**
 * Every secret value this process has seen (passwords, keys, tokens, webhook URLs). Log lines,
 * error messages and printed config pass through `redact()`, so a secret cannot leak by accident.
 */
const secrets = new Set<string>();

const REDACTED = '[redacted]';

/** Query parameters (and `name=value` pairs) whose values are secrets: password, token, key, secret, signature… */
const SECRET_PARAM = /pass|pwd|token|secret|key|sig|credential|^auth$|^authorization$/i;
/** The same outside a URL, narrower: `key=` there is too often a storage key or a file name. */
const SECRET_PAIR = /\b(password|passwd|pwd|secret|client_secret|token|access_token|api_?key|accountkey|sharedaccesssignature|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token)=([^\s;&"'<>]+)/gi;
const URL_LIKE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 3) {
    secrets.add(value);
    for (const v of [encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) if (v !== value) secrets.add(v);
  }
}

/**
 * Replaces every registered secret with `[redacted]`, and in any URL the password of its user-info
 * (up to the last `@` of the authority, as URL parsers read it) and the values of query parameters
 * named like secrets (`?password=`, `&token=`, `sig=`, `X-Amz-Signature=`…); also `password=…`
 * pairs of connection strings.
 */
export function redact(text: string): string {
  let out = text.replace(URL_LIKE, redactUrl).replace(SECRET_PAIR, `$1=${REDACTED}`);
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  return out;
}

/** One URL-looking token: `scheme://[user[:password]@]host[/path][?query][#fragment]`. */
function redactUrl(url: string): string {
  const start = url.indexOf('//') + 2;
  const rest = url.slice(start);
  const authorityEnd = firstOf(rest, ['/', '?', '#']);
  const authority = rest.slice(0, authorityEnd);
  let tail = rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  let head = authority;
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    head = colon >= 0 ? `${userinfo.slice(0, colon)}:${REDACTED}${authority.slice(at)}` : authority;
  }
  const q = tail.indexOf('?');
  if (q >= 0) {
    const hash = tail.indexOf('#', q);
    const query = tail.slice(q + 1, hash < 0 ? undefined : hash);
    const redacted = query
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 0) return pair;
        return SECRET_PARAM.test(safeDecode(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
      })
      .join('&');
    tail = `${tail.slice(0, q + 1)}${redacted}${hash < 0 ? '' : tail.slice(hash)}`;
  }
  return url.slice(0, start) + head + tail;
}

function firstOf(text: string, chars: string[]): number {
  const found = chars.map((c) => text.indexOf(c)).filter((i) => i >= 0);
  return found.length ? Math.min(...found) : text.length;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function clearSecretsForTests(): void {
  secrets.clear();
}
