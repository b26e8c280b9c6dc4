import { Command, Option } from 'clipanion';
import { profileDestination, profileStagesOption } from './stage-profile.js';
import * as t from 'typanion';
import { DbBackupError } from '../../domain/errors.js';
import { listOption } from './base-command.js';
import { withBackupKeyFlags } from './backup-key-flags.js';
import type { CliServices } from './context.js';
import { DatabaseCommand } from './database-command.js';
import { withAliases } from './engine-flags.js';
import { formatBytes, table } from './render.js';
import { parseRestoreTime } from '../../domain/restore-time.js';
import type { RestoreChainView } from '../../application/use-cases/restore-backup.js';

/** The dry run's chain: every link with its kind, time range and stored bytes, and the point reached. */
function chainLines(chain: RestoreChainView): string[] {
  const rows = chain.links.map((l) => [
    l.id,
    l.kind,
    l.from === l.to ? l.to : `${l.from} … ${l.to}`,
    formatBytes(l.storedBytes),
    l.changes === undefined ? '' : String(l.changes),
  ]);
  return [
    `Chain of ${chain.links.length} backup${chain.links.length === 1 ? '' : 's'} (${formatBytes(chain.storedBytes)} stored); reaches ${chain.point}${chain.stopAt ? ' (replay stops there)' : ''}:`,
    table(['backup', 'kind', 'restores to', 'stored', 'changes'], rows),
  ];
}

const ARCHIVE = /\.(tar\.gz|tgz|zip)$/i;

export class RestoreCommand extends withBackupKeyFlags(DatabaseCommand) {
  static override paths = [['restore']];
  static override usage = Command.Usage({
    description: 'Restore a backup into a database',
    details: `
      Reads a backup from a repository (\`--from\`) or a single archive file (\`--file x.tar.gz\`),
      verifies every checksum, and restores it. An existing, non-empty target is refused unless
      \`--clean\` says to replace it. \`--dry-run\` prints the plan and changes nothing.

      A chain restores whole: \`--backup ID\` of an incremental or differential applies its full and
      every link up to it. \`--at TIME\` restores the newest state at or before TIME (RFC 3339 such
      as 2026-11-25T14:30:00Z, a local time with \`--time-zone\`, or \`latest\`) through the cheapest
      chain that reaches it; a TIME before every restorable point exits 1 naming the restorable
      windows (\`dbbackup list --windows\`). \`--dry-run\` names every backup of the chain, with its
      kind, time range and stored bytes, and the exact point the restore reaches.

      \`--at-gtid GTID\` or \`--at-position FILE:POS\` (engines whose log has them: MySQL/MariaDB)
      restores the chain of \`--backup\` (default latest) up to and including the transaction with
      that GTID, or the transactions ending at or before that binary log position; one outside the
      chain's range exits 1 (E_NO_RESTORE_POINT) naming the range.

      \`--changes-only\` (MySQL/MariaDB) restores no full: it replays the changes of the chain of
      \`--backup\` (or up to \`--at\`/\`--at-gtid\`/\`--at-position\`) onto a target that already holds a
      copy (restored earlier, or a replica being caught up), skipping the transactions whose GTIDs the
      target's state holds (MariaDB \`gtid_binlog_state\`, \`gtid_slave_pos\`; MySQL \`gtid_executed\`) and
      carrying the others' GTIDs, so that running it again applies nothing; \`--dry-run\` says how many it
      would apply and skip. A target whose GTID state has nothing of the source's domain (MySQL: server
      uuid), or stops before the chain's changes start, exits 1 (E_TARGET_STATE) and is left unchanged.
      The output (\`--json\`: \`logPosition\`) names the source's GTID position the target reached;
      \`--set-gtid-slave-pos\` (MariaDB) also sets the target's \`gtid_slave_pos\` to it, so that
      \`CHANGE MASTER TO … MASTER_USE_GTID = slave_pos\` replicates from the source from there.

      For SQLite the target file is \`--database PATH\`; \`--file PATH\` also works when the path does
      not end in .tar.gz/.zip (or after --from), so \`restore --file b.tar.gz --file restored.db\` reads b.tar.gz.
      Every SQLite restore ends with \`PRAGMA integrity_check\` on the restored file (exit 4 when it
      fails; nothing replaced); \`--no-integrity-check\` skips it, unsafely, and says so.
    `,
    examples: [
      ['Restore the newest backup from a folder', '$0 restore --from ./backups --db sqlite --database restored.db'],
      ['Restore one backup by id', '$0 restore --from ./backups --backup 20261125T020000Z-full-ab12 --db sqlite --file restored.db'],
      ['Restore from an archive file', '$0 restore --file app-backup.tar.gz --db sqlite --database restored.db'],
      ['Only two tables, replacing them', '$0 restore --from ./backups --db sqlite --database app.db --tables users,orders --clean'],
      ['Preview', '$0 restore --from ./backups --db sqlite --database app.db --dry-run'],
      ['The state as of a time (newest backup point at or before it)', '$0 restore --from ./backups --database app.db --at "2026-11-25 14:30" --time-zone Europe/Berlin'],
      ['MySQL: up to a transaction, or a binary log position', '$0 restore --from ./backups --db mysql --url mysql://root@db2/shop --at-gtid 0-1-4711'],
      ['MariaDB: catch up a copy with the changes it lacks', '$0 restore --from ./backups --db mysql --url mysql://root@db2/shop --changes-only'],
      ['…and make it a replica of the source from there', '$0 restore --from ./backups --db mysql --url mysql://root@db2/shop --changes-only --set-gtid-slave-pos'],
    ],
  });

  from = Option.String('--from', { description: 'Repository folder or URL to restore from' });
  backup = Option.String('--backup', 'latest', { description: 'Backup id (or unique prefix), or latest' });
  at = Option.String('--at', { description: 'Restore the newest state at or before this time (RFC 3339, local with --time-zone, or latest)' });
  atGtid = Option.String('--at-gtid', { description: 'Restore up to and including the transaction with this GTID (MySQL/MariaDB)' });
  atPosition = Option.String('--at-position', { description: 'Restore the transactions ending at or before this log position, FILE:POS (MySQL/MariaDB)' });
  timeZone = Option.String('--time-zone', { description: 'IANA zone of an --at time given without offset (e.g. Europe/Berlin)' });
  files = Option.Array('--file', { description: 'A backup archive (.tar.gz/.zip); for SQLite also the target file' });
  source = Option.String('--source', {
    description: 'Which source: from the config (its first target and its connection), or among a repository\'s sources',
  });
  tables = Option.String(withAliases('--tables'), { description: 'Only these tables/views/collections (comma-separated; MongoDB: db.coll or coll)' });
  clean = Option.Boolean(withAliases('--clean'), false, { description: 'Replace what exists in the target (--drop: as mongorestore says it)' });
  create = Option.Boolean('--create', false, { description: 'Create the target database when it does not exist' });
  changesOnly = Option.Boolean('--changes-only', false, {
    description: "MySQL/MariaDB: no full; replay the chain's changes onto the target as it is, skipping the transactions whose GTIDs it holds",
  });
  schemas = Option.String('--schemas', { description: 'PostgreSQL: only objects in these schemas (comma-separated)' });
  excludeTables = Option.String(withAliases('--exclude-tables'), { description: 'Leave these tables/views/collections out (comma-separated)' });
  parallel = Option.String('--parallel', { validator: t.isNumber(), description: 'Connections loading data and building indexes (default: CPU cores)' });
  restoreOwner = Option.Boolean('--restore-owner', false, { description: "Give objects the backup's owners (PostgreSQL: the roles must exist; MySQL: the DEFINERs, needs SET USER)" });
  restoreGrants = Option.Boolean('--restore-grants', false, { description: "PostgreSQL: apply the backup's GRANTs (the roles must exist)" });
  noIntegrityCheck = Option.Boolean('--no-integrity-check', false, {
    description: "SQLite: skip PRAGMA integrity_check of the restored database (UNSAFE: damage goes unnoticed; it costs about as much as the rest of a full's restore)",
  });
  recipient = Option.String('--recipient', { description: 'age public key (only to be told it cannot decrypt: restores need --identity)' });

  profileStages = profileStagesOption();

  protected override stageProfile(): string | undefined {
    return profileDestination(this.profileStages);
  }

  protected async run(services: CliServices): Promise<number> {
    const located = this.locate();
    const configured =
      this.source && services.settings.config.section.sources?.[this.source] ? services.settings.source(this.source) : undefined;
    const repository = located.repository ?? configured?.repositories[0]?.url;
    const explicitTarget =
      located.targetFile !== undefined || this.db !== undefined || this.url !== undefined || this.database !== undefined || this.host !== undefined;
    if (this.timeZone !== undefined && this.at === undefined) throw new DbBackupError('E_USAGE', '--time-zone only applies to --at.');
    const at = this.at === undefined ? undefined : parseRestoreTime(this.at, this.timeZone);
    const atLog = this.logPoint();
    if (atLog && at !== undefined) throw new DbBackupError('E_USAGE', 'Give one restore point: --at, --at-gtid or --at-position.');
    const result = await services.restoreBackup.execute(
      {
        repository,
        at,
        atLog,
        now: new Date(),
        fallbacks: located.repository ? undefined : configured?.repositories.slice(1).map((r) => r.url),
        backup: this.backup,
        source: this.source,
        target: configured && !explicitTarget ? configured.target : await this.connectionTarget(services, located.targetFile),
        tables: listOption(this.tables),
        clean: this.clean,
        dryRun: this.dryRun,
        ...(await this.backupKeys(services, configured?.policy.encrypt === true, this.recipient)),
        options: {
          create: this.create || undefined,
          schemas: listOption(this.schemas),
          excludeTables: listOption(this.excludeTables),
          parallel: this.parallel,
          restoreOwner: this.restoreOwner || undefined,
          restoreGrants: this.restoreGrants || undefined,
          integrityCheck: this.noIntegrityCheck ? false : undefined,
          changesOnly: this.changesOnly || undefined,
        },
      },
      this.context.signal,
    );
    const { plan, manifest } = result;
    if (this.changesOnly) return this.changesOnlyResult(result);
    const rows = plan.items.map((i) => [i.object, i.type, i.rows ?? '', formatBytes(i.bytes), i.action]);
    const totalRows = plan.items.reduce((n, i) => n + (i.rows ?? 0), 0);
    if (result.dryRun) {
      const state = plan.targetExists ? (plan.targetEmpty ? 'exists and is empty' : 'exists and is NOT empty') : 'does not exist';
      this.print(
        [
          `Dry run: nothing was changed.`,
          `Backup ${manifest.id} (${manifest.engine}, ${manifest.kind}, taken ${manifest.consistentAt})`,
          ...chainLines(result.chain),
          `Target ${plan.target} ${state}; the restore would ${plan.effect === 'create' ? 'create it' : plan.effect === 'replace' ? 'REPLACE it' : 'add or replace the chosen objects'}.`,
          `${plan.items.length} objects, ${totalRows} rows, ${formatBytes(manifest.parts.reduce((n, p) => n + p.rawSize, 0))} of data`,
          '',
          table(['object', 'type', 'rows', 'size', 'action'], rows),
          ...plan.warnings.map((w) => `warning: ${w}`),
        ].join('\n'),
        { ok: true, dryRun: true, backup: manifest.id, plan, chain: result.chain },
      );
      return this.ok();
    }
    const outcome = result.outcome!;
    const notes = (outcome.warnings ?? []).map((w) => `\n  warning: ${w}`).join('');
    const links = result.chain.links.length > 1 ? ` (chain of ${result.chain.links.length}: ${result.chain.links.map((l) => l.id).join(' → ')})` : '';
    const reached = outcome.logPosition ? ` The source's log position reached: ${outcome.logPosition}.` : '';
    this.print(
      `Restored backup ${manifest.id}${links} into ${plan.target}: ${outcome.objects.length} objects, ${outcome.rows} rows; ` +
        `the database is as of ${outcome.point ?? result.chain.point}.${reached}${notes}`, {
      ok: true,
      backup: manifest.id,
      point: outcome.point ?? result.chain.point,
      links: result.chain.links.map((l) => l.id),
      target: plan.target,
      objects: outcome.objects,
      rows: outcome.rows,
      ...(outcome.logPosition ? { logPosition: outcome.logPosition } : {}),
      warnings: outcome.warnings ?? [],
    });
    return this.ok();
  }

  /** What `--changes-only` did (or, in a dry run, would do): transactions applied and skipped. */
  private changesOnlyResult(result: Awaited<ReturnType<CliServices['restoreBackup']['execute']>>): number {
    const { plan, manifest, chain } = result;
    const outcome = result.outcome!;
    const t = outcome.transactions ?? { applied: 0, skipped: 0 };
    const counts = `${t.applied} transaction(s) ${result.dryRun ? 'would be applied' : 'applied'}, ${t.skipped} skipped (the target already holds their GTIDs)`;
    const links = chain.links.slice(1).map((l) => l.id);
    const notes = (result.dryRun ? plan.warnings : (outcome.warnings ?? [])).map((w) => `\n  warning: ${w}`).join('');
    const position = outcome.logPosition ? { logPosition: outcome.logPosition } : {};
    const json = { ok: true, dryRun: result.dryRun, backup: manifest.id, changesOnly: true, point: outcome.point ?? chain.point, links, target: plan.target, transactions: t, ...position, objects: outcome.objects, warnings: result.dryRun ? plan.warnings : (outcome.warnings ?? []) };
    if (result.dryRun) {
      const reach = outcome.logPosition ? `; it would reach the source's log position ${outcome.logPosition}` : '';
      this.print(`Dry run: nothing was changed.\n${chainLines(chain).join('\n')}\nChanges only onto ${plan.target} (the full is not restored): ${counts}${reach}.${notes}`, json);
    } else {
      const reach = outcome.logPosition ? `; the source's log position reached: ${outcome.logPosition}` : '';
      this.print(`Replayed the changes of ${links.join(' → ')} onto ${plan.target}: ${counts}; the database is as of ${json.point}${reach}.${notes}`, json);
    }
    return this.ok();
  }

  /** --at-gtid / --at-position as the engine reads them (the CLI does not parse engine positions). */
  private logPoint(): { gtid: string } | { position: string } | undefined {
    if (this.atGtid !== undefined && this.atPosition !== undefined) throw new DbBackupError('E_USAGE', 'Give one restore point: --at-gtid or --at-position.');
    if (this.atGtid !== undefined) return { gtid: this.atGtid };
    return this.atPosition === undefined ? undefined : { position: this.atPosition };
  }

  /** Sorts the --file values into the archive to read and the SQLite file to write. */
  private locate(): { repository?: string; targetFile?: string } {
    const files = this.files ?? [];
    if (files.length > 2) throw new DbBackupError('E_USAGE', '--file was given more than twice; give one archive and one target at most.');
    if (this.from) {
      if (files.length > 1) throw new DbBackupError('E_USAGE', 'With --from, --file names the SQLite target only once.');
      return { repository: this.from, targetFile: files[0] };
    }
    if (files.length === 2) return { repository: files[0], targetFile: files[1] };
    if (files.length === 1) {
      if (ARCHIVE.test(files[0]!) || this.database) return { repository: files[0] };
      return { targetFile: files[0] };
    }
    return {};
  }
}
