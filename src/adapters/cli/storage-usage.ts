import { Command, Option } from 'clipanion';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { formatBytes, table } from './render.js';

export class StorageUsageCommand extends BaseCommand {
  static override paths = [['storage', 'usage']];
  static override usage = Command.Usage({
    description: 'Bytes and objects per source and backup kind, growth over 7/30 days, and the largest backups',
    details: `
      Reads the catalog. With --target (a config target name or a repository URL/folder) that
      repository's manifests are read first, so the figures are current.
    `,
    examples: [
      ['Every repository the catalog knows', '$0 storage usage'],
      ['One target of the config, as JSON', '$0 storage usage --target s3 --json'],
    ],
  });

  target = Option.String('--target', { description: 'A config target name, or a repository URL/folder' });
  source = Option.String('--source', { description: 'Only this source' });

  protected async run(services: CliServices): Promise<number> {
    let repository: string | undefined;
    if (this.target) {
      const configured = services.settings.config.section.targets?.[this.target];
      const url = configured?.url ?? this.target;
      const refreshed = await services.listBackups.execute({ repository: url }, this.context.signal);
      repository = refreshed.backups[0]?.repository ?? url;
    }
    const r = await services.storageUsage.execute({ repository, source: this.source });
    const rows = r.groups.map((g) => [g.source, g.kind, g.backups, g.objects, formatBytes(g.bytes), g.repository]);
    this.print(
      [
        rows.length ? table(['source', 'kind', 'backups', 'objects', 'size', 'repository'], rows) : 'No backups in the catalog.',
        '',
        `total ${formatBytes(r.totalBytes)}; growth: ${formatBytes(r.growth.last7Days)} in the last 7 days, ${formatBytes(r.growth.last30Days)} in the last 30`,
        ...(r.largest.length ? ['', 'largest backups:', table(['id', 'source', 'kind', 'size'], r.largest.map((b) => [b.id, b.source, b.kind, formatBytes(b.storedSize)]))] : []),
      ].join('\n'),
      { ok: true, ...r },
    );
    return this.ok();
  }
}
