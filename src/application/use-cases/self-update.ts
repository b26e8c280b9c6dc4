import { DbBackupError } from '../../domain/errors.js';
import { compareVersions } from '../../domain/version.js';
import type { ReleaseChannel } from '../ports/release-channel.js';

export interface SelfUpdateInput {
  /** Only report whether a newer version exists. */
  check: boolean;
  /** Put back the version the last update replaced. */
  rollback: boolean;
  allowDowngrade: boolean;
}

export type SelfUpdateResult =
  | { action: 'up-to-date' | 'available' | 'updated' | 'downgraded'; channel: string; current: string; latest: string; changes: string[] }
  | { action: 'rolled-back'; channel: string; current: string; restored: string };

export interface SelfUpdateDeps {
  channel: ReleaseChannel;
  /** What keeps an update from running now (a scheduled job in progress), or undefined. */
  busy: () => Promise<string | undefined>;
}

/** `dbbackup self-update`: never a downgrade unless asked, never while a scheduled job runs. */
export class SelfUpdate {
  constructor(private readonly deps: SelfUpdateDeps) {}

  async execute(input: SelfUpdateInput, signal?: AbortSignal): Promise<SelfUpdateResult> {
    const { channel } = this.deps;
    const current = channel.currentVersion;
    if (input.rollback) {
      await this.refuseWhileBusy();
      return { action: 'rolled-back', channel: channel.kind, current, restored: await channel.rollback() };
    }
    const release = await channel.latest(signal);
    const order = compareVersions(release.version, current);
    const base = { channel: channel.kind, current, latest: release.version, changes: release.changes };
    if (order === 0) return { action: 'up-to-date', ...base };
    if (order < 0 && !input.allowDowngrade) {
      if (input.check) return { action: 'up-to-date', ...base };
      throw new DbBackupError('E_UPDATE', `The update channel offers ${release.version}, older than the running ${current}; refusing a downgrade (pass --allow-downgrade to install it anyway).`);
    }
    if (input.check) return { action: 'available', ...base };
    await this.refuseWhileBusy();
    await channel.install(release, signal);
    return { action: order < 0 ? 'downgraded' : 'updated', ...base };
  }

  private async refuseWhileBusy(): Promise<void> {
    const busy = await this.deps.busy();
    if (busy) throw new DbBackupError('E_UPDATE', `Not updating while ${busy}; retry when it has finished.`);
  }
}
