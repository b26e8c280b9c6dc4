/**
 * What authenticates a manifest (README "Security model"). The MAC and the signature cover the
 * manifest as dbbackup reads it — every field but `auth` itself, defaults filled in — serialised
 * canonically (sorted keys, no spaces), so the encryption metadata, the parts and their hashes,
 * the objects and the parent links of a chain are all bound to the key.
 */
export interface ManifestMac {
  /** HMAC-SHA256 under HKDF-SHA256(the backup's data key, info {@link MANIFEST_MAC_INFO}). */
  alg: 'hmac-sha256';
  key: 'data-key';
  /** hex */
  value: string;
}

export interface ManifestSignature {
  alg: 'ed25519';
  /** Id of the public key that checks it (`ed25519-…`). */
  keyId: string;
  /** base64 */
  value: string;
}

export interface ManifestAuth {
  /** Encrypted backups: only a holder of the data key (so of the repository's key) can make it. */
  mac?: ManifestMac;
  /** Signed backups (`backup --sign-key`): only the holder of the private signing key can make it. */
  signature?: ManifestSignature;
}

/** The first manifest format that carries `auth`; older ones are "written before authentication". */
export const AUTHENTICATED_FORMAT_VERSION = 2;
export const MANIFEST_MAC_INFO = 'dbbackup manifest v1';
const DOMAIN = 'dbbackup manifest v1\n';

/** JSON with object keys sorted at every level and no whitespace; `undefined` members left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The bytes a manifest's MAC and signature are computed over: a domain label, then its canonical JSON minus `auth`. */
export function manifestAuthBytes(manifest: object): Buffer {
  const { auth: _auth, ...rest } = manifest as { auth?: unknown };
  return Buffer.from(DOMAIN + canonicalJson(rest), 'utf8');
}

/** The `auth` member of a parsed manifest when its shape is right; undefined otherwise. */
export function authOf(manifest: object): ManifestAuth | undefined {
  const auth = (manifest as { auth?: unknown }).auth;
  if (typeof auth !== 'object' || auth === null) return undefined;
  const { mac, signature } = auth as Record<string, unknown>;
  const out: ManifestAuth = {};
  if (isRecord(mac) && mac.alg === 'hmac-sha256' && mac.key === 'data-key' && typeof mac.value === 'string') out.mac = mac as unknown as ManifestMac;
  if (isRecord(signature) && signature.alg === 'ed25519' && typeof signature.keyId === 'string' && typeof signature.value === 'string') {
    out.signature = signature as unknown as ManifestSignature;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
