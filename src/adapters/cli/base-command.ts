import { Command, Option } from 'clipanion';
import { DbBackupError, ExitCode, isDbBackupError } from '../../domain/errors.js';
import { redact } from '../../infrastructure/redact.js';
import { withStageProfile } from './stage-profile.js';
import type { CliContext, CliServices, GlobalOptions } from './context.js';

/**
 * Global flags, and the one place that turns errors into messages and exit codes (DESIGN.md §1):
 * an expected failure prints `error E_CODE: message` (JSON with --json), never a stack trace.
 */
export abstract class BaseCommand extends Command<CliContext> {
  config = Option.String('--config', { description: 'Config file (YAML or JSON)' });
  profile = Option.String('--profile', { description: 'Config profile to use' });
  dataDir = Option.String('--data-dir', { description: 'Folder for the catalog (default: $DBBACKUP_DATA_DIR or ~/.local/share/dbbackup)' });
  verbose = Option.Boolean('--verbose,-v', false, { description: 'Debug logs and error details' });
  quiet = Option.Boolean('--quiet,-q', false, { description: 'Only errors' });
  json = Option.Boolean('--json', false, { description: 'Machine-readable output on stdout' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Show what would happen; change nothing' });
  s3Endpoint = Option.String('--s3-endpoint', { description: 'S3-compatible endpoint URL (MinIO, Ceph, …); path-style addressing' });
  gcsEndpoint = Option.String('--gcs-endpoint', { description: 'Google Cloud Storage API endpoint' });
  azureEndpoint = Option.String('--azure-endpoint', { description: 'Azure Blob endpoint (e.g. an Azurite URL)' });
  insecure = Option.Boolean('--insecure', {
    description:
      'DANGEROUS: do not verify the TLS certificates of s3:// and azure:// endpoints (refused for gs://); anyone on the path can then read or alter backups. Prefer NODE_EXTRA_CA_CERTS=ca.pem to trust a private CA',
  });

  protected abstract run(services: CliServices): Promise<number>;

  /** Where this command's stage profile goes (see stage-profile.ts); only backup and restore have one. */
  protected stageProfile(): string | undefined {
    return undefined;
  }

  get globals(): GlobalOptions {
    return {
      config: this.config,
      profile: this.profile,
      dataDir: this.dataDir,
      verbose: this.verbose,
      quiet: this.quiet,
      json: this.json,
      dryRun: this.dryRun,
      s3Endpoint: this.s3Endpoint,
      gcsEndpoint: this.gcsEndpoint,
      azureEndpoint: this.azureEndpoint,
      insecure: this.insecure,
      // Declared (as --queue) only by the commands that can work on a fleet's queue.
      queue: (this as { queue?: string }).queue,
      queueOutageMs: (this as { queueOutageMs?: number }).queueOutageMs,
    };
  }

  async execute(): Promise<number> {
    let services: CliServices | undefined;
    try {
      if (this.verbose && this.quiet) throw new DbBackupError('E_USAGE', '--verbose and --quiet cannot be used together.');
      services = await this.context.services(this.globals);
      const live = services;
      const profile = this.stageProfile();
      if (profile === undefined) return await this.run(live);
      return await withStageProfile(this.path.join(' '), profile, this.context.stderr, () => this.run(live));
    } catch (err) {
      return this.fail(err);
    } finally {
      services?.close();
    }
  }

  protected fail(err: unknown): number {
    const known = isDbBackupError(err)
      ? err
      : new DbBackupError('E_INTERNAL', `Unexpected error: ${(err as Error)?.message ?? String(err)}. Rerun with --verbose and report it.`, {
          cause: err,
        });
    // Every error text passes through redact(): a secret in a driver's message never reaches the user's terminal or logs.
    if (this.json) {
      this.context.stdout.write(`${redact(JSON.stringify({ ok: false, error: known.toJSON() }))}\n`);
    } else {
      this.context.stderr.write(redact(`error ${known.code}: ${known.message}\n`));
    }
    if (this.verbose) {
      if (Object.keys(known.details).length) this.context.stderr.write(redact(`details: ${JSON.stringify(known.details, null, 2)}\n`));
      const cause = known.cause ?? (isDbBackupError(err) ? undefined : err);
      if (cause instanceof Error && cause.stack) this.context.stderr.write(redact(`cause: ${cause.stack}\n`));
    }
    return known.exitCode;
  }

  /** Writes a result: JSON on stdout with --json, else the human text (unless --quiet). */
  protected print(human: string, json: unknown): void {
    if (this.json) this.context.stdout.write(`${redact(JSON.stringify(json, null, 2))}\n`);
    else if (!this.quiet && human) this.context.stdout.write(redact(human.endsWith('\n') ? human : `${human}\n`));
  }

  protected ok(): number {
    return ExitCode.ok;
  }
}

/** Splits `a,b , c` into names; undefined when the flag was not given. */
export function listOption(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new DbBackupError('E_USAGE', 'An empty list was given; name at least one table.');
  return names;
}
