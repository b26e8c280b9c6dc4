import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DbBackupError } from '../../domain/errors.js';
import { assertOwnerOnly, writeNewSecretFile } from '../files.js';
import { configDir } from './load-config.js';

/**
 * Config secrets: `enc:v1:<base64url(iv | ciphertext | tag)>`, AES-256-GCM under a 32-byte
 * master key from DBBACKUP_MASTER_KEY (base64) or a key file that only its owner can read.
 */
const PREFIX = 'enc:v1:';

export function isEncrypted(value: string): boolean {
  return value.startsWith('enc:');
}

export function encryptSecret(plain: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

export function decryptSecret(value: string, key: Buffer, where: string): string {
  if (!value.startsWith(PREFIX)) {
    throw new DbBackupError('E_CONFIG', `${where}: unknown secret format "${value.slice(0, 7)}…"; this dbbackup reads enc:v1: values.`);
  }
  const raw = Buffer.from(value.slice(PREFIX.length), 'base64url');
  if (raw.length < 28) throw new DbBackupError('E_CONFIG', `${where}: the encrypted value is damaged (too short).`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new DbBackupError(
      'E_CONFIG',
      `${where}: cannot decrypt the secret: wrong master key, or the value is damaged. Check DBBACKUP_MASTER_KEY / the key file.`,
    );
  }
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
