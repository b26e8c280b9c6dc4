import { Command, Option } from 'clipanion';
import { DbBackupError, ExitCode } from '../../domain/errors.js';
import { SECRET_FIELDS, type Settings } from '../../infrastructure/config/settings.js';
import { isEncrypted } from '../../infrastructure/config/secrets.js';
import { redact } from '../../infrastructure/redact.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';

export class ConfigValidateCommand extends BaseCommand {
  static override paths = [['config', 'validate']];
  static override usage = Command.Usage({
    description: 'Check the config file (and, with --connect, every source and target)',
    details: `
      Reports every problem at once with its path and line, e.g.
      \`profiles.prod.sources.main.port: expected a number, got "54x2"\`. Exits 0 when valid, 2 when not.
      With --connect it also connects to each source and opens each target (exit 3 if any fails).
    `,
    examples: [
      ['Validate ./dbbackup.yaml', '$0 config validate'],
      ['Validate the prod profile and try every connection', '$0 config validate --config /etc/dbbackup.yaml --profile prod --connect'],
    ],
  });

  connect = Option.Boolean('--connect', false, { description: 'Also connect to every source and target' });

  protected async run(services: CliServices): Promise<number> {
    const s = services.settings;
    if (!s.config.path) throw new DbBackupError('E_CONFIG', 'No config file found: pass --config FILE, set DBBACKUP_CONFIG, or create ./dbbackup.yaml.');
    const sources = Object.keys(s.config.section.sources ?? {});
    const problems: string[] = [];
    const resolved = sources.flatMap((name) => {
      try {
        return [s.source(name)];
      } catch (err) {
        problems.push((err as Error).message);
        return [];
      }
    });
    try {
      s.notifications();
    } catch (err) {
      problems.push((err as Error).message);
    }
    for (const name of Object.keys(s.config.section.backups ?? {})) {
      if (!sources.includes(name)) problems.push(`backups.${name}: there is no source "${name}" under sources.`);
    }
    if (problems.length) throw new DbBackupError('E_CONFIG', `${s.config.path} is not usable:\n  ${problems.join('\n  ')}`);
    let checks: Awaited<ReturnType<CliServices['checkConnections']['execute']>> = [];
    if (this.connect) {
      const targets = Object.entries(s.config.section.targets ?? {}).map(([name, t]) => ({ name, url: t.url }));
      checks = await services.checkConnections.execute({ sources: resolved.map((r) => ({ name: r.name, target: r.target })), targets });
    }
    const failed = checks.filter((c) => !c.ok);
    this.print(
      [
        `${s.config.path} is valid${s.config.profile ? ` (profile ${s.config.profile})` : ''}: ${sources.length} sources, ` +
          `${Object.keys(s.config.section.targets ?? {}).length} targets, ${(s.config.section.schedules ?? []).length} schedules, ` +
          `${(s.config.section.notifications ?? []).length} notification channels.`,
        ...checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.kind} ${c.name}: ${c.message}`),
      ].join('\n'),
      { ok: failed.length === 0, path: s.config.path, profile: s.config.profile ?? null, checks },
    );
    return failed.length ? ExitCode.connection : this.ok();
  }
}

export class ConfigShowCommand extends BaseCommand {
  static override paths = [['config', 'show']];
  static override usage = Command.Usage({
    description: 'Print the merged configuration, secrets redacted',
    details: `
      Shows the shared sections with the chosen profile merged over them, and the effective settings.
      With --origin, every value says where it came from: a flag, a DBBACKUP_* variable, file:line, or the default.
    `,
    examples: [
      ['Show the prod profile', '$0 config show --profile prod'],
      ['Where does each value come from?', '$0 config show --origin'],
    ],
  });

  origin = Option.Boolean('--origin', false, { description: 'Say where each value came from' });

  protected async run(services: CliServices): Promise<number> {
    const s = services.settings;
    const merged = redactTree(s.config.section) as Record<string, unknown>;
    const effective = effectiveSettings(s, this.dataDir);
    if (this.json) {
      this.print('', { ok: true, path: s.config.path ?? null, profile: s.config.profile ?? null, config: merged, effective, origins: Object.fromEntries(s.config.origins) });
      return this.ok();
    }
    const lines = [`# config file: ${s.config.path ?? '(none found)'}`, `# profile: ${s.config.profile ?? '(none: shared sections only)'}`, ''];
    if (this.origin) {
      for (const [path, value] of flatten(merged)) lines.push(`${path} = ${JSON.stringify(value)}    # ${s.config.origins.get(path) ?? 'config'}`);
      lines.push('', '# effective settings');
      for (const [k, v] of Object.entries(effective)) lines.push(`${k} = ${JSON.stringify(v.value)}    # ${v.origin}`);
    } else {
      const { stringify } = await import('yaml');
      lines.push(stringify({ ...merged, effective: Object.fromEntries(Object.entries(effective).map(([k, v]) => [k, v.value])) }).trimEnd());
    }
    this.print(lines.join('\n'), {});
    return this.ok();
  }
}

function effectiveSettings(s: Settings, dataDirFlag: string | undefined) {
  return {
    'data-dir': s.pick({ name: '--data-dir', value: dataDirFlag }, 'DBBACKUP_DATA_DIR', 'data-dir', '(platform default)', String),
    compression: s.compression(undefined),
    level: s.level(undefined),
    parallel: s.parallel(undefined),
    nice: s.pick<string | number>({ name: '--nice', value: undefined }, 'DBBACKUP_NICE', 'defaults.nice', 'auto', (v) => v),
    'max-rate': (({ value, origin }) => ({ value: value ?? 'unlimited', origin }))(s.maxRate(undefined)),
  };
}

/**
 * Replaces secret values (secret fields, anything encrypted, a notification's URL and every HTTP
 * header value) with `[redacted]`; other strings pass through redact() (URL passwords and secret
 * query parameters, registered secrets).
 */
export function redactTree(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (SECRET_FIELDS.has(key) || isEncrypted(value)) return '[redacted]';
    return redact(value);
  }
  if (Array.isArray(value)) return value.map((v) => redactTree(v, key));
  if (typeof value === 'object' && value !== null) {
    if (key === 'headers') return Object.fromEntries(Object.keys(value).map((k) => [k, '[redacted]']));
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === 'url' && isNotificationLike(value) ? '[redacted]' : redactTree(v, k)]),
    );
  }
  return value;
}

function isNotificationLike(obj: object): boolean {
  return 'type' in obj && ((obj as { type: unknown }).type === 'slack' || (obj as { type: unknown }).type === 'webhook');
}

function flatten(value: unknown, prefix = ''): [string, unknown][] {
  if (typeof value !== 'object' || value === null) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
}
