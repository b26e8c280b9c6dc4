import { Option } from 'clipanion';
import * as t from 'typanion';
import type { ConnectionTarget } from '../../application/ports/connection-target.js';
import { type ConnectorPlugin, optionKey, optionTakenBy } from '../../application/ports/connector-plugin.js';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../../infrastructure/redact.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { type DatabaseVerb, declaredPlugins, engineFlags } from './engine-flags.js';

const FIELD = 'engineOption:';

/**
 * Flags that name a database, shared by `backup`, `restore` and `replicate`: the common ones here,
 * and one per engine-specific option the built-in plugins declare for the command (added when the
 * command is built), so the connection options (TLS and the like) are the same on all three.
 */
export abstract class DatabaseCommand extends BaseCommand {
  db = Option.String('--db', { description: `Engine: ${declaredPlugins().map((p) => p.engine).join(', ') || 'sqlite, postgres, mysql, mongodb'}, or an installed plugin's` });
  url = Option.String('--url', { description: 'Server URL, e.g. postgres://user@host:5432/app (no password in it); its scheme picks the engine' });
  host = Option.String('--host', { description: 'Server host' });
  port = Option.String('--port', { validator: t.isNumber(), description: 'Server port' });
  user = Option.String('--user', { description: 'User name' });
  database = Option.String('--database', { description: 'Database name; for SQLite (file engines) the database file' });
  passwordEnv = Option.String('--password-env', { description: 'Read the password from this environment variable' });
  engineOptions = Option.Array('--option', { description: "An engine option as NAME=VALUE (repeatable): how a plugin's own options are given" });

  constructor() {
    super();
    const fields = this as unknown as Record<string, unknown>;
    for (const f of engineFlags(this.verb())) {
      const description = `${f.description} (${f.engines.join(', ')})`;
      fields[FIELD + f.key] =
        f.type === 'boolean'
          ? Option.Boolean(f.flags.join(','), { description })
          : Option.String(f.flags.join(','), f.type === 'number' ? { validator: t.isNumber(), description } : { description });
    }
  }

  /** True when flags name a database (rather than a config source). */
  protected namesDatabase(): boolean {
    return this.db !== undefined || this.url !== undefined || this.host !== undefined || this.database !== undefined;
  }

  /** Builds the connection target; `file` is the database file when given with --file. */
  protected async connectionTarget(services: CliServices, file?: string): Promise<ConnectionTarget> {
    const plugin = await this.enginePlugin(services, file);
    const engine = plugin.engine;
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
    const database = plugin.database === 'file' ? (this.database ?? file) : this.database;
    if (plugin.database === 'file' && !database) throw new DbBackupError('E_USAGE', `Name the ${engine} database file with --file PATH or --database PATH.`);
    const options = this.optionsFor(plugin);
    return { engine, url: this.url, host: this.host, port: this.port, user: this.user, password, database, ...(options ? { options } : {}) };
  }

  /** --db, else the engine whose URL scheme --url has, else the first file engine for a bare --file/--database. */
  private async enginePlugin(services: CliServices, file: string | undefined): Promise<ConnectorPlugin> {
    if (this.db) return services.connectors.plugin(this.db);
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(this.url ?? '')?.[1]?.toLowerCase();
    if (scheme) {
      const byScheme = (await services.connectors.plugins()).find((p) => p.schemes.includes(scheme));
      if (byScheme) return byScheme;
    }
    const serverless = !this.url && !this.host && !this.port && !this.user;
    const fileEngine = declaredPlugins().find((p) => p.database === 'file');
    if ((file ?? this.database) && serverless && fileEngine) return fileEngine;
    const names = (await services.connectors.plugins()).map((p) => p.engine);
    throw new DbBackupError('E_USAGE', `Say which database engine with --db ${names.join('|')}.`);
  }

  /** The engine options given as flags or --option, checked against what `plugin` declares and typed. */
  private optionsFor(plugin: ConnectorPlugin): Record<string, unknown> | undefined {
    const verb = this.verb();
    const fields = this as unknown as Record<string, unknown>;
    const given: { key: string; flag: string; value: unknown }[] = [];
    for (const f of engineFlags(verb)) {
      const value = fields[FIELD + f.key];
      if (value !== undefined && value !== false) given.push({ key: f.key, flag: f.flags[0]!, value });
    }
    for (const pair of this.engineOptions ?? []) {
      const m = /^([a-z][a-z0-9-]*)=(.*)$/s.exec(pair);
      if (!m) throw new DbBackupError('E_USAGE', `--option takes NAME=VALUE (e.g. --option threads=4); got "${pair}".`);
      given.push({ key: optionKey(m[1]!), flag: `--option ${m[1]}`, value: m[2] });
    }
    if (given.length === 0) return undefined;
    const options: Record<string, unknown> = {};
    for (const g of given) {
      const decl = plugin.options.find((o) => optionKey(o.name) === g.key && optionTakenBy(o, verb));
      if (!decl) {
        const known = plugin.options.filter((o) => optionTakenBy(o, verb)).map((o) => o.name);
        throw new DbBackupError('E_USAGE', `${g.flag} is not an option of ${verb} for the ${plugin.engine} engine${known.length ? `; its options: ${known.join(', ')}` : ''}.`);
      }
      options[g.key] = typed(decl.type, g.value, g.flag);
    }
    return options;
  }

  private verb(): DatabaseVerb {
    return ((this.constructor as typeof DatabaseCommand).paths?.[0]?.[0] ?? 'backup') as DatabaseVerb;
  }
}

/** A flag's value in the option's declared type (--option values arrive as text). */
function typed(type: string, value: unknown, flag: string): unknown {
  if (typeof value !== 'string') return value;
  if (type === 'number') {
    if (!/^\s*-?\d+(\.\d+)?\s*$/.test(value)) throw new DbBackupError('E_USAGE', `${flag} takes a number; got "${value}".`);
    return Number(value);
  }
  if (type === 'boolean') {
    if (!['true', 'false', '1', '0', 'yes', 'no'].includes(value)) throw new DbBackupError('E_USAGE', `${flag} takes true or false; got "${value}".`);
    return ['true', '1', 'yes'].includes(value);
  }
  if (type === 'list') return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return value;
}

/** A password in the user-info (`user:pw@`, up to the last `@`) or in a query parameter (`?password=`). */
function urlHoldsPassword(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:[^/?#]*@/i.test(url) || /[?&](password|pass|pwd|sslpassword)=[^&]/i.test(url);
}
