import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DbBackupError, type ErrorCode } from '../domain/errors.js';

/** Flushes a written file to disk (before a rename makes it visible); returns its size. */
export async function syncFile(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/** Syncs a folder, so a rename in it survives a crash (best effort where folders cannot be opened). */
export async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

/** Refuses a key file that group or others can read (`code` says which family of error it is). */
export function assertOwnerOnly(path: string, what: string, code: ErrorCode): void {
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new DbBackupError(code, `${what} ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); run \`chmod 600 ${path}\` and retry.`);
  }
}

/**
 * Makes `path` a file only its owner can read, before a library (SQLite) opens it: created 0600 in
 * a 0700 folder when missing; an existing one of ours that others can read is narrowed to 0600.
 */
export function ensurePrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, 'a', 0o600);
  try {
    const info = fstatSync(fd);
    const mine = typeof process.getuid !== 'function' || info.uid === process.getuid();
    if (process.platform !== 'win32' && mine && (info.mode & 0o077) !== 0) chmodSync(path, info.mode & 0o700);
  } finally {
    closeSync(fd);
  }
}

/** Creates a new secret file with mode 0600 (its folder 0700); refuses to replace an existing one. */
export function writeNewSecretFile(path: string, text: string, why: string): void {
  if (existsSync(path)) throw new DbBackupError('E_TARGET_EXISTS', `${path} already exists; ${why} Remove it first if you are sure.`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
}
