import { Command, Option } from 'clipanion';
import { profileDestination, profileStagesOption } from './stage-profile.js';
import * as t from 'typanion';
import { isBackupKind } from '../../domain/backup-kind.js';
import { DbBackupError } from '../../domain/errors.js';
import { totalRawSize, totalStoredSize } from '../../domain/manifest.js';
import { listOption } from './base-command.js';
import { encryptionKey, signerFrom } from './keys.js';
import type { CliServices } from './context.js';
import { DatabaseCommand } from './database-command.js';
import { withAliases } from './engine-flags.js';
import { applyNice, niceOption } from './nice-option.js';
import { formatBytes, formatDuration, table } from './render.js';

export class BackupCommand extends DatabaseCommand {
  static override paths = [['backup']];
  static override usage = Command.Usage({
    description: 'Back up a database into a repository folder or a single archive file',
    details: `
      Takes a consistent snapshot of the database and streams it, compressed and checksummed, into
      the repository given by \`--out\`: a folder (many backups, incremental-ready) or one file
      ending in \`.tar.gz\` or \`.zip\` (one backup, readable with tar/unzip).

      Several \`--out\` (or a config source with several targets) take ONE snapshot into all of them:
      by default it is streamed to every target at once, the slowest setting the pace; with
      \`--fanout sequential\` it is written to the first, then copied from there to the others (each
      copy checked against the checksums). A target that fails is dropped and the others carry on.

      The backup only exists once its manifest is written, so an interrupted run never looks complete.
      Its manifest is authenticated: a MAC under the data key when encrypted, an Ed25519 signature
      with \`--sign-key\`. An encrypted repository refuses a plaintext backup (\`--allow-unencrypted\`
      overrides that, loudly, for a migration).
      Exit codes: 0 done, 1 failed, 2 bad usage, 3 cannot connect, 4 integrity failure,
      5 some targets failed (the others hold a complete backup).
    `,
    examples: [
      ['Back up a SQLite database into a folder', '$0 backup --db sqlite --file app.db --out ./backups'],
      ['Back up into one .tar.gz file', '$0 backup --file app.db --out app-backup.tar.gz'],
      ['Only some tables, gzip level 9', '$0 backup --file app.db --out ./backups --tables users,orders --compress gzip --level 9'],
      ['One snapshot into a local folder and S3 at once', '$0 backup --file app.db --out ./backups --out s3://bucket/db'],
      ['See what would be backed up', '$0 backup --file app.db --out ./backups --dry-run'],
      ['Only what changed since the newest backup (a full when there is none)', '$0 backup --file app.db --out ./backups --type incremental --auto-full'],
      ['Encrypt with a passphrase from the environment', 'BACKUP_PASS=… $0 backup --file app.db --out ./backups --encrypt --passphrase-env BACKUP_PASS'],
      ['Encrypt to an age public key (restore needs the identity)', '$0 backup --file app.db --out ./backups --encrypt --recipient age1…'],
      ['Sign the backup (restore checks it with --verify-key)', '$0 backup --file app.db --out ./backups --sign-key /etc/dbbackup/sign.key'],
      ['A full that reads at most 20 MB a second (lighter on a busy source)', '$0 backup --db postgres --url postgres://backup@db1/app --out ./backups --max-rate 20MB'],
      ['Run at full CPU priority though the database is local (the default there is nice 10)', '$0 backup --db postgres --url postgres://backup@localhost/app --out ./backups --nice 0'],
    ],
  });

  file = Option.String('--file', { description: 'SQLite database file (same as --database)' });
  out = Option.Array('--out,-o', { description: 'Repository folder, storage URL or .tar.gz/.zip archive; repeat for several targets' });
  fanout = Option.String('--fanout', { description: 'Several targets: concurrent (default, one stream teed to all) or sequential (copy from the first)' });
  source = Option.String('--source', {
    description: 'A source from the config (connection, targets, policy), or the name to file the backups under',
  });
  type = Option.String('--type', { description: 'full (default), incremental (changes since the newest backup) or differential (since the newest full)' });
  autoFull = Option.Boolean('--auto-full', false, { description: 'Take a full instead when an incremental/differential has no usable parent (said in the output and manifest)' });
  tables = Option.String(withAliases('--tables'), { description: 'Only these tables/views/collections (comma-separated; MongoDB: db.coll or coll)' });
  excludeTables = Option.String(withAliases('--exclude-tables'), { description: 'Skip these tables/views/collections (comma-separated)' });
  compress = Option.String('--compress', { description: 'zstd (default), gzip or none' });
  level = Option.String('--level', { validator: t.isNumber(), description: 'Compression level (zstd 1-19, default 1; gzip 1-9, default 6)' });
  encrypt = Option.Boolean('--encrypt', false, { description: 'Encrypt every part (AES-256-GCM, per-backup data key)' });
  passphraseEnv = Option.String('--passphrase-env', { description: 'Encrypt with the passphrase in this environment variable' });
  keyFile = Option.String('--key-file', { description: 'Encrypt with this key file (mode 0600; `dbbackup key generate`)' });
  recipient = Option.String('--recipient', { description: 'Encrypt to this age public key (age1…) or file: the server cannot decrypt' });
  signKey = Option.String('--sign-key', { description: 'Sign the manifest with this Ed25519 key (`dbbackup key generate --signing`)' });
  allowUnencrypted = Option.Boolean('--allow-unencrypted', false, {
    description: 'DANGEROUS: store a plaintext backup in an encrypted repository (a migration only)',
  });
  parallel = Option.String('--parallel', { validator: t.isNumber(), description: 'Objects dumped at once (default: CPU cores)' });

  nice = niceOption();
  maxRate = Option.String('--max-rate', {
    description: 'Read the database at most this fast, e.g. 20MB (raw bytes a second over every --parallel connection): a longer backup that costs the source less CPU and I/O per second. Default: unlimited',
  });
  profileStages = profileStagesOption();

  protected override stageProfile(): string | undefined {
    return profileDestination(this.profileStages);
  }

  protected async run(services: CliServices): Promise<number> {
    const settings = services.settings;
    const configured = this.source && settings.config.section.sources?.[this.source] ? settings.source(this.source) : undefined;
    const repositories = this.out?.length ? this.out : (configured?.repositories.map((r) => r.url) ?? []);
    const fanout = this.fanout ?? configured?.policy.fanout ?? 'concurrent';
    if (fanout !== 'concurrent' && fanout !== 'sequential') {
      throw new DbBackupError('E_USAGE', `--fanout must be concurrent or sequential; got "${fanout}".`);
    }
    if (repositories.length === 0) {
      throw new DbBackupError(
        'E_USAGE',
        configured
          ? `Source "${this.source}" has no targets in the config (backups.${this.source}.targets; with several targets defined, none is the default); add some or give --out.`
          : 'Say where the backup goes with --out FOLDER or --out FILE.tar.gz (or --source NAME from the config).',
      );
    }
    const kind = this.type ?? configured?.policy.type ?? 'full';
    if (!isBackupKind(kind)) throw new DbBackupError('E_USAGE', `--type must be full, incremental or differential; got "${kind}".`);
    const encrypt = this.encrypt || configured?.policy.encrypt === true;
    const encryption = encrypt
      ? await encryptionKey(services, { passphraseEnv: this.passphraseEnv, keyFile: this.keyFile, recipient: this.recipient }, this.context.env)
      : undefined;
    const signing = signerFrom(services, this.signKey);
    if (this.allowUnencrypted && !encryption) {
      this.context.stderr.write('WARNING: --allow-unencrypted: this backup is stored in PLAINTEXT even where the repository is encrypted.\n');
    }
    if (this.compress !== undefined && !['zstd', 'gzip', 'none'].includes(this.compress)) {
      throw new DbBackupError('E_USAGE', `--compress must be zstd, gzip or none; got "${this.compress}".`);
    }
    const compression = settings.compression(this.compress, configured?.name).value;
    const level = settings.level(this.level, configured?.name).value;
    const parallel = settings.parallel(this.parallel, configured?.name).value;
    if (parallel < 1) throw new DbBackupError('E_USAGE', '--parallel must be at least 1.');
    const explicitTarget = this.db !== undefined || this.url !== undefined || this.file !== undefined || this.database !== undefined || this.host !== undefined;
    const target = configured && !explicitTarget ? configured.target : await this.connectionTarget(services, this.file);
    applyNice(settings, this.nice, target, configured?.name);
    const result = await services.runBackup.execute(
      {
        target,
        repository: repositories.length === 1 ? repositories[0]! : repositories,
        source: this.source,
        kind,
        compression: { codec: compression, level },
        tables: listOption(this.tables) ?? configured?.policy.tables,
        excludeTables: listOption(this.excludeTables) ?? configured?.policy['exclude-tables'],
        parallel,
        dryRun: this.dryRun,
        encryption,
        signing,
        allowUnencrypted: this.allowUnencrypted,
        fanout,
        autoFull: this.autoFull || configured?.policy['auto-full'] === true,
        slotWarnBytes: settings.slotWarnBytes(configured?.name).value,
        maxRate: settings.maxRate(this.maxRate, configured?.name).value,
      },
      this.context.signal,
    );
    const m = result.manifest;
    if (result.dryRun) {
      const rows = m.objects.map((o) => [o.name, o.type, o.rows ?? '', o.rawBytes === undefined ? '' : formatBytes(o.rawBytes)]);
      this.print(
        `Dry run: would back up ${m.objects.length} objects of ${m.source} into ${result.repository}` +
          `${m.parent ? ` as a ${m.kind} of ${m.parent}` : m.fallback ? ` as a full (--auto-full: ${m.fallback.reason})` : ''}; nothing was written.\n\n${table(['object', 'type', 'rows', 'size'], rows)}`,
        { ok: true, dryRun: true, source: m.source, repository: result.repository, kind: m.kind, parent: m.parent, objects: m.objects },
      );
      return this.ok();
    }
    const stored = result.archiveSize ?? totalStoredSize(m);
    const raw = totalRawSize(m);
    const where =
      result.targets.length > 1
        ? `\n  repositories:\n${result.targets.map((t) => `    - ${t.repository}: complete, ${formatBytes(t.archiveSize ?? totalStoredSize(t.manifest!))}`).join('\n')}`
        : `\n  repository: ${result.repository}`;
    const chain = m.parent ? `\n  parent: ${m.parent}${m.baseFull && m.baseFull !== m.parent ? ` (full: ${m.baseFull})` : ''}` : '';
    const fallback = m.fallback ? `\n  note: took a full backup instead of the ${m.fallback.requested} asked for (--auto-full): ${m.fallback.reason}` : '';
    this.print(
      `Backup ${m.id} complete: ${m.objects.length} objects, ${formatBytes(raw)} → ${formatBytes(stored)} ` +
        `in ${formatDuration(Date.parse(m.finishedAt) - Date.parse(m.startedAt))}${chain}${fallback}${where}` +
        (m.warnings.length ? `\n  warnings:\n${m.warnings.map((w) => `    - ${w}`).join('\n')}` : ''),
      {
        ok: true,
        id: m.id,
        source: m.source,
        repository: result.repository,
        repositories: result.targets.map((t) => ({ repository: t.repository, ok: t.ok, storedSize: t.archiveSize ?? totalStoredSize(t.manifest!) })),
        kind: m.kind,
        parent: m.parent,
        ...(m.fallback ? { fallback: m.fallback } : {}),
        rawSize: raw,
        storedSize: stored,
        manifest: m,
      },
    );
    return this.ok();
  }
}
