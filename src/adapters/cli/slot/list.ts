import { Command, Option } from 'clipanion';
import type { ConnectionTarget } from '../../../application/ports/connection-target.js';
import type { SlotSource } from '../../../application/use-cases/manage-capture-slots.js';
import { DbBackupError } from '../../../domain/errors.js';
import type { CliServices } from '../context.js';
import { DatabaseCommand } from '../database-command.js';
import { configuredSlotSources, slotTable } from './slot-sources.js';

export class SlotListCommand extends DatabaseCommand {
  static override paths = [['slot', 'list']];
  static override usage = Command.Usage({
    category: 'Change capture',
    description: "Show each capture source's slot on its server and how much WAL it keeps",
    details: `
      A capture slot (PostgreSQL: the logical replication slot a full backup with --capture changes
      created) keeps the server's WAL until a backup confirms it. This lists, per source that captures
      changes (capture: changes in the config, or the one --source / --db names), its slots with the
      server's wal_status, the WAL they retain, how much more the server allows before it invalidates
      them (max_slot_wal_keep_size; "no limit" when unset) and the confirmed position. Slots over
      slot-warn-bytes (default 1GiB) are marked (!) and warned about; a lost slot ends its chain.
    `,
    examples: [
      ['Every capture source of the config', '$0 slot list'],
      ['One database, as JSON', '$0 slot list --db postgres --url postgres://backup@db1/app --json'],
    ],
  });

  source = Option.String('--source', { description: 'A source of the config, or the name backups of --db/--url are filed under' });

  protected async run(services: CliServices): Promise<number> {
    const sources = await slotSources(services, this.source, { named: this.namesDatabase(), target: () => this.connectionTarget(services) });
    if (sources.length === 0) {
      throw new DbBackupError('E_USAGE', 'No source of the config captures changes (capture: changes); name one with --source, or the database with --db/--url.');
    }
    const results = await services.manageCaptureSlots.status(sources);
    this.print(slotTable(results), { ok: true, sources: results });
    return this.ok();
  }
}

/** The sources a slot command works on: the database the flags name, else the config's (one or all capturing ones). */
export async function slotSources(
  services: CliServices,
  name: string | undefined,
  flags: { named: boolean; target(): Promise<ConnectionTarget>; from?: string[] },
): Promise<SlotSource[]> {
  if (!flags.named) return configuredSlotSources(services.settings, name);
  const target = await flags.target();
  const connector = await services.connectors.get(target.engine);
  const configured = name && services.settings.config.section.sources?.[name] ? services.settings.source(name) : undefined;
  return [
    {
      name: name ?? connector.defaultSourceName(target),
      target,
      repositories: flags.from ?? configured?.repositories.map((r) => r.url) ?? [],
      warnBytes: services.settings.slotWarnBytes(configured?.name).value,
    },
  ];
}
