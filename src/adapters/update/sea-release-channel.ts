import { createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Release, ReleaseChannel } from '../../application/ports/release-channel.js';
import { DbBackupError } from '../../domain/errors.js';
import { parseVersion } from '../../domain/version.js';
import { downloadVerified, fetchBounded } from './http-download.js';

const MANIFEST_LIMIT = 64 << 10;
const FILE_LIMIT = 1 << 30;

/** What the signature covers: the manifest's `signed` string, parsed only once verified. */
interface SignedRelease {
  format: 1;
  product: 'dbbackup';
  version: string;
  changes?: string[];
  files: { platform: string; name: string; size: number; sha256: string }[];
}

export interface SeaChannelOptions {
  /** The update URL: `<url>/manifest.json` and the files it names beside it. */
  url: string;
  /** The running executable, replaced in place. */
  executable: string;
  currentVersion: string;
  /** Ed25519 public keys, raw 32 bytes in base64. */
  publicKeys: readonly string[];
  /** `linux-x64` etc. */
  platform: string;
}

/**
 * Updates of the single executable: `manifest.json` = `{ "signed": "<JSON of SignedRelease>",
 * "signature": "<Ed25519 over signed's UTF-8 bytes, base64>" }`. The new file is written beside the
 * executable, checked for its signed size and sha256, and renamed over it (atomic); the replaced
 * file stays as `<executable>.previous` for rollback().
 */
export class SeaReleaseChannel implements ReleaseChannel {
  readonly kind = 'sea';
  private readonly keys: KeyObject[];

  constructor(private readonly options: SeaChannelOptions) {
    this.keys = options.publicKeys.map((k) => createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(k, 'base64').toString('base64url') }, format: 'jwk' }));
  }

  get currentVersion(): string {
    return this.options.currentVersion;
  }

  async latest(signal?: AbortSignal): Promise<Release> {
    if (!this.keys.length) throw new DbBackupError('E_UPDATE', 'This executable was built without an update key, so it cannot verify updates; download new versions by hand.');
    const url = `${this.options.url.replace(/\/+$/, '')}/manifest.json`;
    const raw = await fetchBounded(url, MANIFEST_LIMIT, signal);
    let envelope: { signed?: unknown; signature?: unknown };
    try {
      envelope = JSON.parse(raw.toString('utf8')) as typeof envelope;
    } catch {
      throw new DbBackupError('E_UPDATE_AUTH', `${url} is not JSON; it is not an update manifest.`);
    }
    if (typeof envelope.signed !== 'string' || typeof envelope.signature !== 'string') throw new DbBackupError('E_UPDATE_AUTH', `${url} has no signed release.`);
    const data = Buffer.from(envelope.signed, 'utf8');
    const signature = Buffer.from(envelope.signature, 'base64');
    if (!this.keys.some((key) => signature.length === 64 && verify(null, data, key, signature))) {
      throw new DbBackupError('E_UPDATE_AUTH', `The update manifest at ${url} is not signed by a key this executable trusts; nothing was installed.`);
    }
    const release = checkRelease(JSON.parse(envelope.signed) as SignedRelease, url);
    const file = release.files.find((f) => f.platform === this.options.platform);
    if (!file) throw new DbBackupError('E_UPDATE', `Release ${release.version} has no file for ${this.options.platform}.`);
    return { version: release.version, changes: release.changes ?? [], ref: file };
  }

  async install(release: Release, signal?: AbortSignal): Promise<void> {
    const file = release.ref as SignedRelease['files'][number];
    const exe = this.options.executable;
    const fresh = join(dirname(exe), `.${basename(exe)}.new-${randomBytes(4).toString('hex')}`);
    try {
      await downloadVerified(`${this.options.url.replace(/\/+$/, '')}/${file.name}`, fresh, { size: file.size, limit: FILE_LIMIT, algorithm: 'sha256', digest: file.sha256 }, 0o755, signal);
      const previous = `${exe}.previous`;
      await rm(previous, { force: true });
      await link(exe, previous);
      await writeFile(`${previous}.version`, `${this.options.currentVersion}\n`, { mode: 0o644 });
      await rename(fresh, exe);
    } finally {
      await rm(fresh, { force: true });
    }
  }

  async rollback(): Promise<string> {
    const exe = this.options.executable;
    const previous = `${exe}.previous`;
    if (!existsSync(previous)) throw new DbBackupError('E_UPDATE', `There is no ${previous} to roll back to (no update has replaced this executable).`);
    const restored = (await readFile(`${previous}.version`, 'utf8').catch(() => 'unknown')).trim().slice(0, 80);
    // Swapped, so that a second --rollback undoes the first.
    const aside = `${exe}.rollback-${randomBytes(4).toString('hex')}`;
    await link(exe, aside);
    try {
      await rename(previous, exe);
      await rename(aside, previous);
      await writeFile(`${previous}.version`, `${this.options.currentVersion}\n`, { mode: 0o644 });
    } finally {
      await rm(aside, { force: true });
    }
    return restored;
  }
}

function checkRelease(r: SignedRelease, url: string): SignedRelease {
  const bad = (what: string) => new DbBackupError('E_UPDATE_AUTH', `The signed release at ${url} is malformed (${what}).`);
  if (r?.format !== 1 || r.product !== 'dbbackup') throw bad('format/product');
  parseVersion(r.version);
  if (!Array.isArray(r.files)) throw bad('files');
  for (const f of r.files) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(f.name)) throw bad(`file name ${String(f.name).slice(0, 40)}`);
    if (!Number.isSafeInteger(f.size) || f.size <= 0 || f.size > FILE_LIMIT) throw bad('size');
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw bad('sha256');
  }
  if (r.changes !== undefined && (!Array.isArray(r.changes) || r.changes.some((c) => typeof c !== 'string'))) throw bad('changes');
  return { ...r, changes: r.changes?.slice(0, 100).map((c) => c.slice(0, 300)) };
}
