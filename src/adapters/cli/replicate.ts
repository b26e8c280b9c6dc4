import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import type { ReplicateEvent } from '../../application/use-cases/replicate.js';
import { DbBackupError } from '../../domain/errors.js';
import { parseCompaction, parseInterval, parseSegmentSize } from '../../domain/replicate-settings.js';
import { encryptionKey, signerFrom } from './keys.js';
import type { CliServices } from './context.js';
import { DatabaseCommand } from './database-command.js';
import { applyNice, niceOption } from './nice-option.js';
import { formatBytes } from './render.js';

export class ReplicateCommand extends DatabaseCommand {
  static override paths = [['replicate']];
  static override usage = Command.Usage({
    description: 'Ship a SQLite, PostgreSQL or MySQL/MariaDB database’s changes continuously into a repository (point-in-time restores)',
    details: `
      Runs in the foreground until Ctrl-C or SIGTERM, which ship what is waiting, then exit 0.
      Every second (\`--interval\`), or as soon as \`--segment-size\` of changes wait, the commits
      since the last segment are stored as one log segment: checksummed, compressed and encrypted
      like any part, and listed (its manifest written) only once it is complete in every \`--out\`.
      Nothing is stored while nothing changes. Old segments are compacted by age (1 s → 30 s →
      5 min → 1 h) into fewer, larger objects.

      When the repository holds no replicated generation of the database yet, or the file was
      replaced (restored by someone else), a full snapshot is taken first: a new generation, so the
      repository restores on its own. \`restore --at TIME\` then replays commits up to TIME.

      SQLite only, in WAL mode: replicate keeps a read transaction open so no frame is
      checkpointed before it is shipped, runs PASSIVE checkpoints itself and writes nothing into
      the database. A rollback-journal database is refused (E_JOURNAL_MODE, exit 2); switch it once
      with \`sqlite3 app.db "PRAGMA journal_mode=WAL;"\`.
      PostgreSQL: the first generation is a full with change capture (a publication and a logical
      slot, as \`backup --capture changes\`); the slot is then streamed, each transaction a commit of a
      segment, and acknowledged only once a segment is listed in every \`--out\` (or, idle, at the
      server's WAL end). A restart resumes from the last listed segment while the slot exists; a
      table changing shape starts a new generation (unless the source's config asks for capture-ddl).
      Tables without a primary key or replica identity are refused (E_KEYLESS_TABLES, exit 2)
      unless \`--replica-identity-full\` lets replicate give them REPLICA IDENTITY FULL.
      MySQL/MariaDB: the first generation is a full (recording its binary log position); the binary
      log is then followed as a replica would (heartbeats, reconnects), each transaction a commit of
      a segment. A restart resumes from the last listed segment while the server still has its
      binlog file; a purged one starts a new generation.
      The connection flags are backup's: \`--sslmode\`/\`--ssl-mode\`, \`--sslrootcert\`, \`--sslcert\`,
      \`--sslkey\` (and \`--socket\` for MySQL), \`--password-env\`, or a config source's keys.
      One replicate per source and repository runs at a time: another one exits 1 (E_LOCKED) naming
      the process that holds the lock; a killed one's lock is taken over.
      Exit codes: 0 stopped cleanly, 1 failed or E_LOCKED, 2 bad usage, not in WAL mode or keyless tables, 4 integrity failure.
    `,
    examples: [
      ['Replicate app.db into a folder', '$0 replicate --db sqlite --database app.db --out ./backups'],
      ['Every 5 seconds, or 8 MiB', '$0 replicate --database app.db --out ./backups --interval 5s --segment-size 8MiB'],
      ['Into a folder and S3 at once, encrypted', 'KEY=… $0 replicate --database app.db --out ./backups --out s3://bucket/db --encrypt --passphrase-env KEY'],
      ['Replicate a PostgreSQL database', '$0 replicate --db postgres --url postgres://backup@db/shop --out ./backups'],
      ['Replicate a MariaDB database', '$0 replicate --db mysql --url mysql://backup@db/shop --out ./backups'],
      ['Restore the state of 14:30 UTC', '$0 restore --from ./backups --database restored.db --at 2026-11-25T14:30:00Z'],
    ],
  });

  file = Option.String('--file', { description: 'SQLite database file (same as --database)' });
  out = Option.Array('--out,-o', { description: 'Repository folder or storage URL; repeat for several targets' });
  source = Option.String('--source', { description: 'A source from the config, or the name to file the segments under' });
  interval = Option.String('--interval', { description: 'Cut a segment at least this often while changes wait (default 1s; e.g. 500ms, 10s)' });
  segmentSize = Option.String('--segment-size', { description: 'Cut a segment as soon as this much waits (default 16MiB)' });
  compaction = Option.String('--compaction', { description: 'Compaction levels by age after the first (default 30s,5m,1h; `none`: keep every segment)' });
  compress = Option.String('--compress', { description: 'zstd (default), gzip or none' });
  level = Option.String('--level', { validator: t.isNumber(), description: 'Compression level' });
  encrypt = Option.Boolean('--encrypt', false, { description: 'Encrypt every part (AES-256-GCM, per-segment data key)' });
  passphraseEnv = Option.String('--passphrase-env', { description: 'Encrypt with the passphrase in this environment variable' });
  keyFile = Option.String('--key-file', { description: 'Encrypt with this key file (mode 0600)' });
  recipient = Option.String('--recipient', { description: 'Encrypt to this age public key (age1…) or file' });
  signKey = Option.String('--sign-key', { description: 'Sign every manifest with this Ed25519 key' });
  nice = niceOption();

  protected async run(services: CliServices): Promise<number> {
    const settings = services.settings;
    const configured = this.source && settings.config.section.sources?.[this.source] ? settings.source(this.source) : undefined;
    const repositories = this.out?.length ? this.out : (configured?.repositories.map((r) => r.url) ?? []);
    if (repositories.length === 0) throw new DbBackupError('E_USAGE', 'Say where the segments go with --out FOLDER (or --source NAME from the config).');
    if (this.dryRun) throw new DbBackupError('E_USAGE', 'replicate has no --dry-run; `dbbackup backup --dry-run` shows what a snapshot holds.');
    if (this.compress !== undefined && !['zstd', 'gzip', 'none'].includes(this.compress)) {
      throw new DbBackupError('E_USAGE', `--compress must be zstd, gzip or none; got "${this.compress}".`);
    }
    const encryption =
      this.encrypt || configured?.policy.encrypt === true
        ? await encryptionKey(services, { passphraseEnv: this.passphraseEnv, keyFile: this.keyFile, recipient: this.recipient }, this.context.env)
        : undefined;
    const intervalMs = parseInterval(this.interval ?? '1s', '--interval');
    const explicitTarget = this.namesDatabase() || this.file !== undefined;
    const target = configured && !explicitTarget ? configured.target : await this.connectionTarget(services, this.file);
    applyNice(settings, this.nice, target, configured?.name);
    const result = await services.replicate.execute(
      {
        target,
        repository: repositories,
        source: this.source,
        compression: { codec: settings.compression(this.compress, configured?.name).value, level: settings.level(this.level, configured?.name).value },
        encryption,
        signing: signerFrom(services, this.signKey),
        intervalMs,
        segmentBytes: parseSegmentSize(this.segmentSize ?? '16MiB', '--segment-size'),
        compactionLevelsMs: parseCompaction(this.compaction ?? '30s,5m,1h', intervalMs, '--compaction'),
        onEvent: (e) => this.report(e),
      },
      this.context.signal,
    );
    this.print(
      `Replication of ${result.source} stopped: generation ${result.generation}, ${result.segments} segments (${result.commits} commits) shipped` +
        `${result.snapshots ? `, ${result.snapshots} snapshot${result.snapshots === 1 ? '' : 's'}` : ''}; restorable through ${result.through}.`,
      { ok: true, event: 'stopped', ...result },
    );
    return this.ok();
  }

  /** One line per event: readable, or a JSON line with --json (what a supervisor or test reads). */
  private report(e: ReplicateEvent): void {
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify({ event: e.type, ...e, type: undefined })}\n`);
      return;
    }
    if (this.quiet && e.type !== 'failed') return;
    const line =
      e.type === 'generation'
        ? `snapshot ${e.id}: new generation ${e.generation} (${e.reason})`
        : e.type === 'resumed'
          ? `resuming generation ${e.generation} after ${e.from}`
          : e.type === 'segment'
            ? `shipped ${e.id}: ${e.commits} commits, ${formatBytes(e.bytes)}, through ${e.through}`
            : e.type === 'compacted'
              ? `compacted ${e.replaced} segments into ${e.id} (level ${e.level})`
              : e.type === 'slot-dropped'
                ? `dropped slot ${e.slot} left by a killed run (pid ${e.pid})`
                : `warning ${e.code}: ${e.message}`;
    (e.type === 'failed' ? this.context.stderr : this.context.stdout).write(`${line}\n`);
  }
}
