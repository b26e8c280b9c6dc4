import { Command, Option } from 'clipanion';
import type { ConnectionTarget } from '../../application/ports/connection-target.js';
import { DbBackupError, ExitCode } from '../../domain/errors.js';
import { registerSecret } from '../../infrastructure/redact.js';
import { BaseCommand, listOption } from './base-command.js';
import type { CliServices } from './context.js';
import { table } from './render.js';

export class CompareCommand extends BaseCommand {
  static override paths = [['compare']];
  static override usage = Command.Usage({
    description: 'Compare two databases table by table (row counts and content hashes)',
    details: `
      Reads every table of both databases, each in one snapshot, and compares its row count and a
      hash of its rows' contents (in any order). For two databases of one engine: after a restore,
      a migration, or on a replica. A database is a server URL (postgres://…, mysql://…; the
      password from --password-env, which serves both) or a SQLite file. Exits 0 when every table
      is the same on both sides, 4 when one differs or is on one side only (E_DIFFERENT).
    `,
    examples: [
      ['A restored copy against its source', '$0 compare postgres://app@db1/app postgres://app@db1/app_restored'],
      ['Two SQLite files, two tables only', '$0 compare app.db restored.db --tables users,orders'],
    ],
  });

  left = Option.String({ name: 'DB1' });
  right = Option.String({ name: 'DB2' });
  db = Option.String('--db', { description: 'Engine, when a URL scheme does not say (a SQLite file needs none)' });
  tables = Option.String('--tables', { description: 'Only these tables (comma-separated)' });
  passwordEnv = Option.String('--password-env', { description: 'Read the servers\' password from this environment variable' });

  protected async run(services: CliServices): Promise<number> {
    const password = this.password();
    const [left, right] = await Promise.all([this.targetOf(services, this.left, password), this.targetOf(services, this.right, password)]);
    const result = await services.compareDatabases.execute({ left, right, tables: listOption(this.tables) }, this.context.signal);
    const side = (d?: { rows: number; hash: string }) => (d ? `${d.rows} ${d.hash.slice(0, 12)}` : '(none)');
    const differ = result.tables.filter((t) => !t.same);
    const error = differ.length
      ? new DbBackupError('E_DIFFERENT', `${differ.length} of ${result.tables.length} table(s) differ: ${differ.slice(0, 10).map((t) => t.table).join(', ')}${differ.length > 10 ? ', …' : ''}.`)
      : undefined;
    this.print(
      `${table(['table', 'DB1 rows hash', 'DB2 rows hash', ''], result.tables.map((t) => [t.table, side(t.left), side(t.right), t.same ? 'same' : 'DIFFERENT']))}\n` +
        (error ? '' : `All ${result.tables.length} table(s) are the same.`),
      { ok: result.same, same: result.same, tables: result.tables, ...(error ? { error: error.toJSON() } : {}) },
    );
    if (!error) return this.ok();
    if (!this.json) this.context.stderr.write(`error ${error.code}: ${error.message}\n`);
    return ExitCode.integrity;
  }

  private password(): string | undefined {
    if (!this.passwordEnv) return undefined;
    const password = this.context.env[this.passwordEnv];
    if (password === undefined) throw new DbBackupError('E_USAGE', `--password-env names ${this.passwordEnv}, but that environment variable is not set.`);
    registerSecret(password);
    return password;
  }

  /** A URL whose scheme an engine claims (or --db's engine), else a file of the engine that keeps its database in a file. */
  private async targetOf(services: CliServices, name: string, password: string | undefined): Promise<ConnectionTarget> {
    const plugins = await services.connectors.plugins();
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(name)?.[1]?.toLowerCase();
    const plugin = this.db ? await services.connectors.plugin(this.db) : scheme ? plugins.find((p) => p.schemes.includes(scheme)) : plugins.find((p) => p.database === 'file');
    if (!plugin) throw new DbBackupError('E_USAGE', `Cannot tell the engine of ${name}; pass --db ${plugins.map((p) => p.engine).join('|')}.`);
    if (plugin.database === 'file') return { engine: plugin.engine, database: name };
    return { engine: plugin.engine, url: name, ...(password !== undefined ? { password } : {}) };
  }
}
