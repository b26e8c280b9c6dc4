import type { BackupCatalog, CatalogBackup } from '../ports/backup-catalog.js';
import type { Clock } from '../ports/clock.js';

export interface UsageGroup {
  repository: string;
  source: string;
  kind: string;
  backups: number;
  /** Stored objects: every part plus the manifest. */
  objects: number;
  bytes: number;
}

export interface StorageUsageResult {
  groups: UsageGroup[];
  totalBytes: number;
  /** Bytes of backups that finished within the last 7 and 30 days (growth). */
  growth: { last7Days: number; last30Days: number };
  largest: Pick<CatalogBackup, 'id' | 'repository' | 'source' | 'kind' | 'storedSize' | 'finishedAt'>[];
}

/** `dbbackup storage usage`: what the backups take, per repository, source and kind, from the catalog. */
export class StorageUsage {
  constructor(private readonly deps: { catalog: BackupCatalog; clock: Clock }) {}

  async execute(input: { repository?: string; source?: string; largest?: number }): Promise<StorageUsageResult> {
    const backups = await this.deps.catalog.list({ repository: input.repository, source: input.source });
    const groups = new Map<string, UsageGroup>();
    for (const b of backups) {
      const key = `${b.repository}\0${b.source}\0${b.kind}`;
      const g = groups.get(key) ?? { repository: b.repository, source: b.source, kind: b.kind, backups: 0, objects: 0, bytes: 0 };
      g.backups++;
      g.objects += b.partCount + 1;
      g.bytes += b.storedSize;
      groups.set(key, g);
    }
    const now = this.deps.clock.now().getTime();
    const since = (days: number) =>
      backups.filter((b) => now - Date.parse(b.finishedAt) <= days * 86_400_000).reduce((n, b) => n + b.storedSize, 0);
    return {
      groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes),
      totalBytes: backups.reduce((n, b) => n + b.storedSize, 0),
      growth: { last7Days: since(7), last30Days: since(30) },
      largest: [...backups]
        .sort((a, b) => b.storedSize - a.storedSize)
        .slice(0, input.largest ?? 5)
        .map(({ id, repository, source, kind, storedSize, finishedAt }) => ({ id, repository, source, kind, storedSize, finishedAt })),
    };
  }
}
