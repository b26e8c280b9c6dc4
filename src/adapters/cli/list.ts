import { Command, Option } from 'clipanion';
import type { CliServices } from './context.js';
import { BaseCommand } from './base-command.js';
import { DbBackupError, ExitCode } from '../../domain/errors.js';
import { historyTable, runJson } from './schedule/schedule-render.js';
import { formatBytes, formatDuration, table } from './render.js';
import { configuredSlotSources, slotTable, warnOn } from './slot/slot-sources.js';

export class ListCommand extends BaseCommand {
  static override paths = [['list'], ['ls']];
  static override usage = Command.Usage({
    description: 'List complete backups',
    details: `
      Without --from, shows the catalog: every backup this machine has made or seen, in every
      repository. In fleet mode (a queue set: --queue, DBBACKUP_QUEUE or queue: in the config) it
      first reads the config's targets, which every worker writes to, so it shows the fleet's
      backups from any machine. With --from, reads that repository's manifests (the truth) and updates the catalog.
      --refresh rescans every repository the catalog knows. Interrupted backups never appear; a
      backup whose manifest is damaged is shown with status "damaged" and its path, and list exits 5.
      The parent column names the backup an incremental or differential applies on. --windows adds,
      per source, the restorable windows: the times \`restore --at\` reaches exactly (a backup
      whose chain misses a link adds none). Sources that capture changes (capture: changes) also show
      their capture slots: the WAL each keeps on the server (see \`slot list\`); --no-slots skips that.
    `,
    examples: [
      ['Everything the catalog knows', '$0 list'],
      ['Backups in one repository, as JSON', '$0 list --from ./backups --json'],
      ['Rebuild the catalog from the repositories', '$0 list --refresh'],
      ['The points in time each source can be restored to', '$0 list --from ./backups --windows'],
    ],
  });

  from = Option.String('--from', { description: 'Repository folder, URL or archive to read' });
  source = Option.String('--source', { description: 'Only backups of this source' });
  refresh = Option.Boolean('--refresh', false, { description: 'Rescan repositories and rebuild the catalog' });
  windows = Option.Boolean('--windows', false, { description: 'Also show, per source, the times a restore can reach' });
  runs = Option.Boolean('--runs', false, { description: 'Show the scheduled runs (the fleet\'s, with a queue set) instead of backups' });
  limit = Option.String('--limit', { description: 'With --runs: how many (default 50)' });
  queue = Option.String('--queue', { description: 'Fleet mode: read the runs from this Redis (--runs), the backups from the config\'s targets' });
  slots = Option.Boolean('--slots', true, { description: 'Show the capture slots of the config\'s sources that capture changes (--no-slots: do not connect to their servers)' });

  protected async run(services: CliServices): Promise<number> {
    if (this.runs) return this.listRuns(services);
    // Fleet mode (a queue set): the workers' backups are in the config's targets, not in this machine's catalog.
    const shared = this.from === undefined && services.settings.queue(this.queue) ? services.settings.targets().map((t) => t.url) : undefined;
    const result = await services.listBackups.execute(
      { repository: this.from, source: this.source, refresh: this.refresh, windows: this.windows, shared },
      this.context.signal,
    );
    for (const p of result.problems) this.context.stderr.write(`warning: ${p.repository}: ${p.message}\n`);
    const rows = result.backups.map((b) => [
      b.id,
      b.source,
      b.engine,
      b.kind,
      b.parent ?? '-',
      formatBytes(b.storedSize),
      formatDuration(b.durationMs),
      b.status,
      b.repository,
    ]);
    const windows = (result.windows ?? []).flatMap((w) =>
      (w.windows.length ? w.windows.map((x) => (x.from === x.to ? x.to : `${x.from} … ${x.to}`)) : ['none']).map((text) => [w.source, w.repository, text]),
    );
    const captures = this.slots ? configuredSlotSources(services.settings, undefined, warnOn(this.context.stderr)).filter((s) => this.source === undefined || s.name === this.source) : [];
    const slots = captures.length ? await services.manageCaptureSlots.status(captures) : undefined;
    // Damaged backups are listed as such (never as restorable), with where their manifest is.
    rows.push(...result.damaged.map((d) => [d.id, d.source, '-', '-', '-', '-', '-', 'damaged', `${d.repository}/${d.path}`]));
    this.print(
      (rows.length === 0
        ? 'No backups found.'
        : table(['id', 'source', 'engine', 'kind', 'parent', 'size', 'duration', 'status', 'repository'], rows)) +
        (result.windows ? `\n\nRestorable windows:\n${table(['source', 'repository', 'restores to'], windows)}` : '') +
        (slots ? `\n\nCapture slots:\n${slotTable(slots)}` : ''),
      { ok: result.damaged.length === 0, backups: result.backups, problems: result.problems, damaged: result.damaged, ...(result.windows ? { windows: result.windows } : {}), ...(slots ? { slots } : {}) },
    );
    // Some backups could not be listed: a partial answer (exit 5).
    return result.damaged.length ? ExitCode.partial : this.ok();
  }

  /** `list --runs`: the scheduled runs, newest first (of --source's schedules only, when given). */
  private async listRuns(services: CliServices): Promise<number> {
    const limit = this.limit === undefined ? 50 : Number(this.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new DbBackupError('E_USAGE', '--limit must be a whole number of at least 1.');
    const runs = (await services.manageSchedules.history(undefined, this.source === undefined ? limit : Math.max(limit, 1000)))
      .filter((r) => this.source === undefined || r.source === this.source)
      .slice(0, limit);
    this.print(runs.length ? historyTable(runs) : 'No runs yet.', { ok: true, runs: runs.map(runJson) });
    return this.ok();
  }
}
