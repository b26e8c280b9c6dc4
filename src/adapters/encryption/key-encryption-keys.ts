import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeyEncryptionKey, WrappedKey } from '../../application/ports/key-encryption-key.js';
import { DbBackupError } from '../../domain/errors.js';
import { assertOwnerOnly } from '../../infrastructure/files.js';

type Age = typeof import('age-encryption');
let agePromise: Promise<Age> | undefined;
const age = () => (agePromise ??= import('age-encryption'));

const CHECK_TEXT = 'dbbackup key check v1';

function wrongKey(backupId: string, keyId: string, why: string): DbBackupError {
  return new DbBackupError('E_KEY', `Cannot open the data key of backup ${backupId} with key ${keyId}: ${why}.`, { details: { backupId, keyId } });
}

/** scrypt work factor (log2 N) of new passphrase wraps: age's own default. */
export const SCRYPT_LOG_N = 18;
/** The highest work factor a wrap may ask of a reader (as age): higher would let a file cost minutes and GiBs to open. */
export const MAX_SCRYPT_LOG_N = 20;

/**
 * A passphrase, stretched with scrypt inside age's passphrase recipient (work factor stored in the
 * stanza). Wraps made with a lower work factor (dbbackup before 18) still open.
 */
export class PassphraseKey implements KeyEncryptionKey {
  readonly scheme = 'age-scrypt' as const;
  readonly canWrap = true;
  readonly canUnwrap = true;

  constructor(
    private readonly passphrase: string,
    readonly keyId = 'passphrase',
    private readonly workFactor = SCRYPT_LOG_N,
  ) {}

  /** The minimum length holds for new wraps only: a short passphrase given to read is tried, and fails as a wrong key. */
  async wrap(dataKey: Buffer): Promise<WrappedKey> {
    if (this.passphrase.length < 8) throw new DbBackupError('E_USAGE', 'The passphrase is too short: use at least 8 characters.');
    const e = new (await age()).Encrypter();
    e.setScryptWorkFactor(this.workFactor);
    e.setPassphrase(this.passphrase);
    return { keyId: this.keyId, scheme: this.scheme, data: Buffer.from(await e.encrypt(dataKey)).toString('base64') };
  }

  async unwrap(wrapped: WrappedKey, backupId: string): Promise<Buffer> {
    const data = Buffer.from(wrapped.data, 'base64');
    const logN = scryptWorkFactor(data);
    if (logN !== undefined && logN > MAX_SCRYPT_LOG_N) {
      throw wrongKey(backupId, wrapped.keyId, `its scrypt work factor (log2 N = ${logN}) is above ${MAX_SCRYPT_LOG_N}, which dbbackup (like age) refuses to compute`);
    }
    const d = new (await age()).Decrypter();
    d.addPassphrase(this.passphrase);
    try {
      return Buffer.from(await d.decrypt(data));
    } catch {
      throw wrongKey(backupId, wrapped.keyId, 'wrong passphrase');
    }
  }

  async checkValue(): Promise<string> {
    return (await this.wrap(Buffer.from(CHECK_TEXT))).data;
  }

  async matchesCheck(check: string | undefined): Promise<boolean> {
    if (!check) return true;
    return this.unwrap({ keyId: this.keyId, scheme: this.scheme, data: check }, 'check').then(
      (b) => b.toString() === CHECK_TEXT,
      () => false,
    );
  }
}

/** The log2 N of an age file's `-> scrypt <salt> <logN>` stanza, read from its text header; undefined when there is none. */
export function scryptWorkFactor(ageFile: Buffer): number | undefined {
  const end = ageFile.indexOf('\n---');
  const header = ageFile.subarray(0, end < 0 ? Math.min(ageFile.length, 4096) : end).toString('latin1');
  const m = /^-> scrypt \S+ (\d{1,4})$/m.exec(header);
  return m ? Number(m[1]) : undefined;
}

/** 32 random bytes (base64) in a file only its owner can read (`dbbackup key generate --key-file`). */
export class KeyFileKey implements KeyEncryptionKey {
  readonly scheme = 'aes-256-gcm-keyfile' as const;
  readonly canWrap = true;
  readonly canUnwrap = true;
  readonly keyId: string;
  private readonly key: Buffer;

  constructor(path: string) {
    let text: string;
    try {
      assertOwnerOnly(path, 'The key file', 'E_KEY');
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (err instanceof DbBackupError) throw err;
      throw new DbBackupError('E_KEY', `Cannot read the key file ${path}: ${(err as Error).message}.`);
    }
    this.key = Buffer.from(text.trim(), 'base64');
    if (this.key.length !== 32) throw new DbBackupError('E_KEY', `${path} is not a dbbackup key file (expected 32 bytes in base64).`);
    this.keyId = `file-${createHmac('sha256', this.key).update('dbbackup key id').digest('hex').slice(0, 12)}`;
  }

  async wrap(dataKey: Buffer): Promise<WrappedKey> {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(this.keyId));
    const body = Buffer.concat([c.update(dataKey), c.final()]);
    return { keyId: this.keyId, scheme: this.scheme, data: Buffer.concat([iv, body, c.getAuthTag()]).toString('base64') };
  }

  async unwrap(wrapped: WrappedKey, backupId: string): Promise<Buffer> {
    const raw = Buffer.from(wrapped.data, 'base64');
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(wrapped.keyId));
      d.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
    } catch {
      throw wrongKey(backupId, wrapped.keyId, 'wrong key file, or the wrapped key is damaged');
    }
  }

  async checkValue(): Promise<string> {
    return createHash('sha256').update(this.keyId).digest('hex').slice(0, 16);
  }

  async matchesCheck(check: string | undefined): Promise<boolean> {
    return !check || check === (await this.checkValue());
  }
}

/**
 * An age X25519 key pair: a recipient (`age1…`, public: backups only) or an identity
 * (`AGE-SECRET-KEY-1…`, private: needed to restore). Servers that only back up hold the recipient.
 */
export class AgeKey implements KeyEncryptionKey {
  readonly scheme = 'age-x25519' as const;
  readonly canWrap = true;
  readonly canUnwrap: boolean;

  private constructor(
    private readonly recipient: string,
    private readonly identity: string | undefined,
  ) {
    this.canUnwrap = identity !== undefined;
  }

  get keyId(): string {
    return `age-${this.recipient.slice(4, 16)}`;
  }

  static async fromRecipient(recipient: string): Promise<AgeKey> {
    if (!/^age1[0-9a-z]{20,}$/.test(recipient.trim())) throw new DbBackupError('E_USAGE', `"${recipient.slice(0, 12)}…" is not an age recipient (age1…).`);
    return new AgeKey(recipient.trim(), undefined);
  }

  static async fromIdentity(identity: string): Promise<AgeKey> {
    const id = identity
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
    if (!id) throw new DbBackupError('E_KEY', 'The identity holds no AGE-SECRET-KEY-1… line.');
    return new AgeKey(await (await age()).identityToRecipient(id), id);
  }

  async wrap(dataKey: Buffer): Promise<WrappedKey> {
    const e = new (await age()).Encrypter();
    e.addRecipient(this.recipient);
    return { keyId: this.keyId, scheme: this.scheme, data: Buffer.from(await e.encrypt(dataKey)).toString('base64') };
  }

  async unwrap(wrapped: WrappedKey, backupId: string): Promise<Buffer> {
    if (!this.identity) {
      throw wrongKey(backupId, wrapped.keyId, 'only the public recipient key was given; restoring needs the private identity (--identity FILE)');
    }
    const d = new (await age()).Decrypter();
    d.addIdentity(this.identity);
    try {
      return Buffer.from(await d.decrypt(Buffer.from(wrapped.data, 'base64')));
    } catch {
      throw wrongKey(backupId, wrapped.keyId, 'this identity is not a recipient of the backup');
    }
  }

  async checkValue(): Promise<string> {
    return this.recipient;
  }

  async matchesCheck(check: string | undefined): Promise<boolean> {
    return !check || check === this.recipient;
  }

  static async generate(): Promise<{ identity: string; recipient: string }> {
    const a = await age();
    const identity = await a.generateIdentity();
    return { identity, recipient: await a.identityToRecipient(identity) };
  }
}
