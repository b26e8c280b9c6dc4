import { DbBackupError, isDbBackupError } from '../../domain/errors.js';
import type { CaptureRequirement, CaptureSlot, CaptureSlots } from '../ports/capture-slots.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionTarget } from '../ports/connection-target.js';
import type { ConnectorRegistry } from '../ports/connector-registry.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier, NotificationThrottle } from '../ports/notifier.js';
import type { RepositoryOpener } from '../ports/repository-opener.js';
import { scanRepository } from '../services/backup-repository.js';
import { alertSlots, slotWarnings } from '../services/slot-alerts.js';

/** A backup source whose capture slots are looked at: its connection and the repositories its backups go to. */
export interface SlotSource {
  name: string;
  target: ConnectionTarget;
  repositories: string[];
  /** Past this many retained bytes a slot is reported (see slotWarnings). */
  warnBytes: number;
}

/** One source's slots as the server shows them, with what needs attention. */
export interface SourceSlots {
  source: string;
  engine: string;
  captureName?: string;
  slots: CaptureSlot[];
  warnBytes: number;
  /** Slots past the threshold, at risk or lost, in words. */
  warnings: string[];
  /** The source could not be looked at (unreachable server, engine without slots). */
  problem?: { code: string; message: string };
}

export interface DropSlotsResult {
  source: string;
  slots: string[];
  publication?: string;
  /** The DDL capture (event trigger and log) was removed with the database's last capture. */
  ddlCapture?: boolean;
  /** Backups whose chain went through the dropped slots: the next backup of the source must be a full. */
  dependents: { repository: string; backup: string }[];
}

export interface ManageCaptureSlotsDeps {
  connectors: ConnectorRegistry;
  opener: RepositoryOpener;
  logger: Logger;
  clock: Clock;
  notifiers?: Notifier[];
  throttle?: NotificationThrottle;
}

/**
 * The capture slots of backup sources (`slot list`, `list`, `schedule status`, the metrics file;
 * `doctor` can call status()), warnings past a threshold, and `slot drop`.
 */
export class ManageCaptureSlots {
  constructor(private readonly deps: ManageCaptureSlotsDeps) {}

  /** Each source's slots; a source that cannot be looked at comes back with `problem`, never a throw. */
  async status(sources: readonly SlotSource[], options: { notify?: boolean } = {}): Promise<SourceSlots[]> {
    const out: SourceSlots[] = [];
    for (const source of sources) {
      const result = await this.withSlots(source, async (slots) => {
        const captureName = slots.captureNameOf(source.name);
        const found = await slots.list(captureName);
        return { source: source.name, engine: source.target.engine, captureName, slots: found, warnBytes: source.warnBytes, warnings: slotWarnings(found, source.warnBytes) };
      }).catch((err: unknown) => ({
        source: source.name,
        engine: source.target.engine,
        slots: [],
        warnBytes: source.warnBytes,
        warnings: [],
        problem: { code: isDbBackupError(err) ? err.code : 'E_INTERNAL', message: String((err as Error)?.message ?? err) },
      }));
      if (options.notify) await alertSlots(this.deps, result.source, result.slots, result.warnings);
      out.push(result);
    }
    return out;
  }

  /** What the source's server lacks for change capture, each naming the setting and its fix (for `doctor`). */
  async requirements(source: SlotSource): Promise<CaptureRequirement[]> {
    return this.withSlots(source, (slots) => slots.requirements());
  }

  /**
   * Drops the source's slots and publication. When a backup in its repositories recorded one of
   * them as its position (its chain continues through it), refuses with E_USAGE unless `yes`.
   */
  async drop(source: SlotSource, yes: boolean): Promise<DropSlotsResult> {
    return this.withSlots(source, async (slots) => {
      const captureName = slots.captureNameOf(source.name);
      const names = new Set((await slots.list(captureName)).map((s) => s.name));
      const dependents = names.size ? await this.dependents(source, names) : [];
      if (dependents.length && !yes) {
        const newest = dependents.map((d) => d.backup).sort().at(-1);
        throw new DbBackupError(
          'E_USAGE',
          `Backups of "${source.name}" continue their chain through ${[...names].join(', ')} (newest: ${newest}); after the drop, incrementals cannot follow them and the next backup of "${source.name}" must be a full. Pass --yes to drop it anyway.`,
          { details: { dependents } },
        );
      }
      const dropped = await slots.drop(captureName);
      this.deps.logger.info('capture slots dropped', { source: source.name, slots: dropped.slots, publication: dropped.publication });
      return { source: source.name, ...dropped, dependents };
    });
  }

  /** Backups of the source in its repositories whose position names one of `slots`. */
  private async dependents(source: SlotSource, slots: Set<string>): Promise<{ repository: string; backup: string }[]> {
    const found: { repository: string; backup: string }[] = [];
    for (const url of source.repositories) {
      const repo = await this.deps.opener.open(url, 'read').catch(() => undefined);
      if (!repo) continue;
      try {
        const { manifests } = await scanRepository(repo.store, { source: source.name }).catch(() => ({ manifests: [] }));
        for (const m of manifests) {
          const slot = m.logPosition?.slot;
          if (typeof slot === 'string' && slots.has(slot)) found.push({ repository: url, backup: m.id });
        }
      } finally {
        await repo.close().catch(() => undefined);
      }
    }
    return found;
  }

  private async withSlots<T>(source: SlotSource, fn: (slots: CaptureSlots) => Promise<T>): Promise<T> {
    const connector = await this.deps.connectors.get(source.target.engine);
    const session = await connector.connect(source.target, 'backup');
    try {
      if (!session.slots) throw new DbBackupError('E_UNSUPPORTED', `${connector.engine} sources keep no capture slots on their server.`);
      return await fn(session.slots);
    } finally {
      await session.close().catch(() => undefined);
    }
  }
}
