import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DbBackupError } from '../../domain/errors.js';
import { assertOwnerOnly, writeNewSecretFile } from '../files.js';
import { configDir } from './load-config.js';

/**
 * Config secrets, AES-256-GCM under a 32-byte master key from DBBACKUP_MASTER_KEY (base64) or a key
 * file that only its owner can read:
 * - `enc:v2:<field>:<base64url(iv | ciphertext | tag)>`, bound to its field: the field's path in the
 *   merged config (`sources.main.password`) is the associated data, so a value moved to another
 *   field (where it might be printed, or sent to another host) does not open there.
 * - `enc:v1:<base64url(iv | ciphertext | tag)>`, unbound (older, or made without --field): still read.
 */
const V1 = 'enc:v1:';
const V2 = 'enc:v2:';

export function isEncrypted(value: string): boolean {
  return value.startsWith('enc:');
}

/** True for a value that opens in any field (an `enc:v1:` value): worth re-encrypting with --field. */
export function isUnbound(value: string): boolean {
  return value.startsWith(V1);
}

/** Encrypts `plain`; bound to `field` (a dotted config path) when given, else an unbound enc:v1: value. */
export function encryptSecret(plain: string, key: Buffer, field?: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (field !== undefined) cipher.setAAD(aad(field));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const sealed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  return field === undefined ? V1 + sealed : `${V2}${field}:${sealed}`;
}

/** Opens an enc: value found at config path `where`; a value bound to another field is an E_CONFIG error. */
export function decryptSecret(value: string, key: Buffer, where: string): string {
  let sealed: string;
  let field: string | undefined;
  if (value.startsWith(V1)) {
    sealed = value.slice(V1.length);
  } else if (value.startsWith(V2) && value.lastIndexOf(':') > V2.length) {
    field = value.slice(V2.length, value.lastIndexOf(':'));
    sealed = value.slice(value.lastIndexOf(':') + 1);
    if (field !== where) {
      throw new DbBackupError(
        'E_CONFIG',
        `${where}: this enc: value was encrypted for ${field}, and a value opens only in its own field. ` +
          `Re-encrypt the secret for this field: dbbackup secret encrypt --field ${where}`,
      );
    }
  } else {
    throw new DbBackupError('E_CONFIG', `${where}: unknown secret format "${value.slice(0, 7)}…"; this dbbackup reads enc:v1: and enc:v2: values.`);
  }
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < 28) throw new DbBackupError('E_CONFIG', `${where}: the encrypted value is damaged (too short).`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    if (field !== undefined) decipher.setAAD(aad(field));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new DbBackupError(
      'E_CONFIG',
      `${where}: cannot decrypt the secret: wrong master key, or the value is damaged. Check DBBACKUP_MASTER_KEY / the key file.`,
    );
  }
}

function aad(field: string): Buffer {
  return Buffer.from(`dbbackup config secret\0${field}`, 'utf8');
}

/**
 * The path a value is bound to: `profiles.<name>.` is dropped, since a profile's value overrides the
 * shared section's at the same path (one binding serves both). Throws E_USAGE for what is no field.
 */
export function secretFieldPath(field: string): string {
  const path = field.trim().replace(/^profiles\.[^.]+\./, '');
  if (!/^(sources|targets)\.[^.]+\.[a-z-]+$|^notifications\.\d+\.([a-z-]+|headers\.[^.]+)$|^encryption\.[a-z-]+$/.test(path)) {
    throw new DbBackupError(
      'E_USAGE',
      `--field ${field} is not a config field that holds a secret; write its dotted path, e.g. sources.main.password, ` +
        'targets.s3.secret-access-key, notifications.0.url, notifications.0.headers.Authorization or encryption.passphrase.',
    );
  }
  return path;
}

export function defaultKeyFile(env: NodeJS.ProcessEnv): string {
  return env.DBBACKUP_MASTER_KEY_FILE ?? join(configDir(env), 'master.key');
}

function parseKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) {
    throw new DbBackupError('E_CONFIG', `${where} is not a master key (expected 32 bytes in base64); create one with \`dbbackup secret init\`.`);
  }
  return key;
}

/**
 * The master key: DBBACKUP_MASTER_KEY, else the key file. A key file readable by group or others is
 * refused. Returns undefined when neither exists (callers say what needs it).
 */
export function loadMasterKey(env: NodeJS.ProcessEnv, keyFile = defaultKeyFile(env)): Buffer | undefined {
  if (env.DBBACKUP_MASTER_KEY) return parseKey(env.DBBACKUP_MASTER_KEY, 'DBBACKUP_MASTER_KEY');
  if (!existsSync(keyFile)) return undefined;
  assertOwnerOnly(keyFile, 'The master key file', 'E_CONFIG');
  return parseKey(readFileSync(keyFile, 'utf8'), `The key file ${keyFile}`);
}

/** Creates a new key file (mode 0600); refuses to overwrite one. */
export function initKeyFile(keyFile: string): void {
  writeNewSecretFile(keyFile, `${randomBytes(32).toString('base64')}\n`, 'it may protect secrets in use.');
}

export function requireMasterKey(env: NodeJS.ProcessEnv, keyFile: string | undefined, why: string): Buffer {
  const key = loadMasterKey(env, keyFile ?? defaultKeyFile(env));
  if (!key) {
    throw new DbBackupError(
      'E_CONFIG',
      `${why} needs the master key: set DBBACKUP_MASTER_KEY or create ${keyFile ?? defaultKeyFile(env)} with \`dbbackup secret init\`.`,
    );
  }
  return key;
}
