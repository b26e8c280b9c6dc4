import { randomBytes } from 'node:crypto';
import type { ConnectionTarget } from '../../application/ports/connection-target.js';
import { DbBackupError } from '../../domain/errors.js';

/** A scratch database's name: recognisable (a leftover says what it is) and unique. */
export function scratchName(): string {
  return `dbbackup_verify_${randomBytes(5).toString('hex')}`;
}

/** The server a scratch database goes on: `--scratch URL` is required for server engines. */
export function scratchServer(server: ConnectionTarget | undefined, engine: string): ConnectionTarget {
  if (!server) {
    throw new DbBackupError('E_USAGE', `verify --deep of a ${engine} backup restores into a scratch database: name a server with --scratch URL (a database is created there and dropped after).`);
  }
  return server;
}
