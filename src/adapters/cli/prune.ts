import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import type { PruneBackupsResult } from '../../application/use-cases/prune-backups.js';
import { DbBackupError, ExitCode, isDbBackupError } from '../../domain/errors.js';
import { policyFromConfig, type RetentionPolicy } from '../../domain/retention.js';
import { parseDuration } from '../../infrastructure/rotating-file.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { formatBytes, table } from './render.js';

export class PruneCommand extends BaseCommand {
  static override paths = [['prune']];
  static override usage = Command.Usage({
    description: 'Delete old backups by a retention policy (GFS), keeping every backup a kept one needs',
    details: `
      Applies restic-style rules, newest first: --keep-last N keeps the N newest backups;
      --keep-hourly/daily/weekly/monthly/yearly N keep the newest backup of each of the N most recent
      hours/days/ISO weeks/months/years that have a backup; --keep-within 30d keeps every backup
      started within that long of the newest backup. Periods are UTC unless --time-zone is given.
      The rules add up; a backup any rule keeps survives, and so does every backup it needs to be
      restored (its full and the incrementals before it). Pinned backups (\`dbbackup pin\`) are never
      deleted. Folders of interrupted backups older than --orphan-grace (default 24h) are removed.

      With --source and no --from, prunes every target of that source in the config with its
      retention policy (backups.<source>.retention, else retention). Any --keep-* flag replaces the
      configured policy as a whole. --dry-run prints the plan and deletes nothing.
    `,
    examples: [
      ['See what a policy would delete', '$0 prune --from ./backups --source app --keep-daily 7 --keep-weekly 4 --dry-run'],
      ['Prune every target of a configured source with its policy', '$0 prune --source main'],
      ['Keep the last 3 and everything from the last 30 days', '$0 prune --from s3://bucket/db --source app --keep-last 3 --keep-within 30d'],
      ['Keep every point of the last week restorable (fulls, differentials, incrementals)', '$0 prune --from ./backups --source app --keep-pitr 7d'],
    ],
  });

  from = Option.String('--from', { description: 'Repository folder or URL (default: the source\'s targets in the config)' });
  source = Option.String('--source', { description: 'The source whose backups to prune' });
  keepLast = Option.String('--keep-last', { validator: t.isNumber(), description: 'Keep the N newest backups' });
  keepHourly = Option.String('--keep-hourly', { validator: t.isNumber(), description: 'Keep the newest backup of each of the last N hours with one' });
  keepDaily = Option.String('--keep-daily', { validator: t.isNumber(), description: 'Same per day' });
  keepWeekly = Option.String('--keep-weekly', { validator: t.isNumber(), description: 'Same per ISO week' });
  keepMonthly = Option.String('--keep-monthly', { validator: t.isNumber(), description: 'Same per month' });
  keepYearly = Option.String('--keep-yearly', { validator: t.isNumber(), description: 'Same per year' });
  keepWithin = Option.String('--keep-within', { description: 'Keep all backups within this long of the newest (30d, 12h, 2w, 1y)' });
  keepPitr = Option.String('--keep-pitr', { description: 'Keep what a restore to any point of the last D needs (7d): whole chains' });
  timeZone = Option.String('--time-zone', { description: 'IANA time zone for the periods (default UTC)' });
  orphanGrace = Option.String('--orphan-grace', { description: 'Age before an interrupted backup\'s parts are removed (default 24h)' });

  protected async run(services: CliServices): Promise<number> {
    const { repositories, policy } = this.resolve(services);
    const orphanGraceMs = this.orphanGrace === undefined ? undefined : durationOption('--orphan-grace', this.orphanGrace);
    const results: PruneBackupsResult[] = [];
    const problems: { repository: string; error: DbBackupError }[] = [];
    for (const repository of repositories) {
      try {
        results.push(
          await services.pruneBackups.execute({ repository, source: this.source, policy, dryRun: this.dryRun, orphanGraceMs }, this.context.signal),
        );
      } catch (err) {
        if (!isDbBackupError(err) || repositories.length === 1) throw err;
        problems.push({ repository, error: err });
      }
    }
    if (results.length === 0) throw problems[0]!.error;
    for (const r of results) for (const w of r.warnings) this.context.stderr.write(`warning: ${r.repository}: ${w}\n`);
    for (const p of problems) this.context.stderr.write(`error ${p.error.code}: ${p.repository}: ${p.error.message}\n`);
    this.print(results.map((r) => this.render(r)).join('\n\n'), {
      ok: problems.length === 0,
      dryRun: this.dryRun,
      results,
      problems: problems.map((p) => ({ repository: p.repository, error: p.error.toJSON() })),
    });
    return problems.length ? ExitCode.partial : this.ok();
  }

  /** Where to prune and by which policy: flags first, then the config (DESIGN.md §6 precedence). */
  private resolve(services: CliServices): { repositories: string[]; policy: RetentionPolicy } {
    const section = services.settings.config.section;
    const flags = this.flagPolicy();
    if (this.from) {
      const configured = this.source ? (section.backups?.[this.source]?.retention ?? section.retention) : section.retention;
      return { repositories: [this.from], policy: flags ?? policyFromConfig(configured, this.timeZone) };
    }
    if (!this.source) {
      throw new DbBackupError('E_USAGE', 'Say what to prune: --from REPOSITORY --source NAME, or --source NAME from the config.');
    }
    const source = services.settings.source(this.source);
    if (source.repositories.length === 0) {
      throw new DbBackupError('E_CONFIG', `Source "${this.source}" has no targets in the config (backups.${this.source}.targets); give --from.`);
    }
    return { repositories: source.repositories.map((r) => r.url), policy: flags ?? policyFromConfig(source.retention, this.timeZone) };
  }

  private flagPolicy(): RetentionPolicy | undefined {
    const p: RetentionPolicy = {
      keepLast: this.keepLast,
      keepHourly: this.keepHourly,
      keepDaily: this.keepDaily,
      keepWeekly: this.keepWeekly,
      keepMonthly: this.keepMonthly,
      keepYearly: this.keepYearly,
      keepWithin: this.keepWithin,
      keepPitr: this.keepPitr,
    };
    const given = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy;
    if (Object.keys(given).length === 0) return undefined;
    return this.timeZone ? { ...given, timeZone: this.timeZone } : given;
  }

  private render(r: PruneBackupsResult): string {
    const rows = r.plan.decisions.map((d) => [d.id, d.kind, d.startedAt.replace(/\.\d{3}Z$/, 'Z'), decisionText(d.action, d.reasons, r.dryRun)]);
    const orphanRows = r.orphans.map((o) => [o.prefix, `${o.objects} objects`, formatBytes(o.bytes), r.dryRun ? 'orphan: would be removed' : 'orphan: removed']);
    const what =
      `${r.deleted.length} backup(s)${r.orphans.length ? ` and ${r.orphans.length} orphan folder(s)` : ''}` +
      (r.incompleteUploads ? `, ${r.dryRun ? 'and would abort' : 'aborted'} ${r.incompleteUploads} unfinished upload(s)` : '');
    const summary = r.dryRun
      ? `Dry run: would delete ${what} (${formatBytes(r.bytesFreed)}) and keep ${r.kept}; nothing was deleted.`
      : `Deleted ${what}, freed ${formatBytes(r.bytesFreed)}; kept ${r.kept}.`;
    return [
      `${r.repository} (source ${r.source}): ${r.policy}${r.dryRun ? ' — dry run' : ''}`,
      rows.length ? table(['id', 'kind', 'started', 'decision'], rows) : 'No complete backups.',
      ...(orphanRows.length ? ['', table(['orphan folder', 'objects', 'size', 'decision'], orphanRows)] : []),
      summary,
    ].join('\n');
  }
}

/** `kept: daily 2026-11-20, base of …` (at most 3 reasons, then a count) or `deleted`. */
function decisionText(action: 'keep' | 'delete', reasons: string[], dryRun: boolean): string {
  if (action === 'delete') return dryRun ? 'would delete' : 'deleted';
  const shown = reasons.slice(0, 3).join(', ');
  return `kept: ${shown}${reasons.length > 3 ? ` (+${reasons.length - 3} more)` : ''}`;
}

function durationOption(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new DbBackupError('E_USAGE', `${flag} must be a duration like 24h, 90m or 7d; got "${text}".`);
  }
}
