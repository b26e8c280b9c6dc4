import { Option } from 'clipanion';
import * as t from 'typanion';
import type { ConnectionTarget } from '../../application/ports/database-connector.js';
import { isEngine } from '../../domain/backup-kind.js';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../../infrastructure/redact.js';
import { BaseCommand } from './base-command.js';

/** Flags that name a database, shared by `backup` and `restore`. */
export abstract class DatabaseCommand extends BaseCommand {
  db = Option.String('--db', { description: 'Engine: sqlite, postgres, mysql or mongodb' });
  url = Option.String('--url', { description: 'Server URL, e.g. postgres://user@host:5432/app (no password in it)' });
  host = Option.String('--host', { description: 'Server host' });
  port = Option.String('--port', { validator: t.isNumber(), description: 'Server port' });
  user = Option.String('--user', { description: 'User name' });
  database = Option.String('--database', { description: 'Database name; for SQLite the database file' });
  passwordEnv = Option.String('--password-env', { description: 'Read the password from this environment variable' });
  socket = Option.String('--socket', { description: 'MySQL: Unix socket file instead of host/port' });
  sslMode = Option.String('--ssl-mode', { description: 'MySQL TLS: DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY' });
  sslCa = Option.String('--ssl-ca,--sslrootcert', { description: 'TLS: CA certificate file (PEM) that signed the server certificate' });
  sslCert = Option.String('--ssl-cert,--sslcert', { description: 'TLS: client certificate file (PEM)' });
  sslKey = Option.String('--ssl-key,--sslkey', { description: 'TLS: client key file (PEM)' });
  sslmode = Option.String('--sslmode', { description: 'PostgreSQL TLS as libpq spells it: disable, allow, prefer, require, verify-ca, verify-full' });

  /** Builds the connection target; `file` is the SQLite path when given with --file. */
  protected connectionTarget(file?: string): ConnectionTarget {
    const serverless = !this.url && !this.host && !this.port && !this.user;
    const engine = this.db ?? ((file ?? this.database) && serverless ? 'sqlite' : undefined);
    if (!engine) throw new DbBackupError('E_USAGE', 'Say which database engine with --db sqlite|postgres|mysql|mongodb.');
    if (!isEngine(engine)) throw new DbBackupError('E_USAGE', `Unknown --db "${engine}"; use sqlite, postgres, mysql or mongodb.`);
    if (this.url && urlHoldsPassword(this.url)) {
      this.context.stderr.write('warning: the --url holds a password, which other users can see in the process list; use --password-env instead.\n');
    }
    let password: string | undefined;
    if (this.passwordEnv) {
      password = this.context.env[this.passwordEnv];
      registerSecret(password);
      if (password === undefined) {
        throw new DbBackupError('E_USAGE', `--password-env names ${this.passwordEnv}, but that environment variable is not set.`);
      }
    }
    const database = engine === 'sqlite' ? (this.database ?? file) : this.database;
    if (engine === 'sqlite' && !database) throw new DbBackupError('E_USAGE', 'Name the SQLite database file with --file PATH or --database PATH.');
    const options = definedOnly({ socket: this.socket, sslMode: this.sslMode, sslCa: this.sslCa, sslCert: this.sslCert, sslKey: this.sslKey, sslmode: this.sslmode });
    return { engine, url: this.url, host: this.host, port: this.port, user: this.user, password, database, ...(options ? { options } : {}) };
  }

  /** `target` with engine-specific `extra` options added (undefined values left out). */
  protected withOptions(target: ConnectionTarget, extra: Record<string, unknown>): ConnectionTarget {
    const options = definedOnly({ ...target.options, ...extra });
    return options ? { ...target, options } : target;
  }
}

function definedOnly(values: Record<string, unknown>): Record<string, unknown> | undefined {
  const kept = Object.entries(values).filter(([, v]) => v !== undefined && v !== false);
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/** A password in the user-info (`user:pw@`, up to the last `@`) or in a query parameter (`?password=`). */
function urlHoldsPassword(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:[^/?#]*@/i.test(url) || /[?&](password|pass|pwd|sslpassword)=[^&]/i.test(url);
}
