import { tmpdir } from 'node:os';
import { Command, Option } from 'clipanion';
import type { DoctorInput } from '../../application/use-cases/doctor-types.js';
import { doctorExitCode, fail, type Finding, warn } from '../../domain/diagnosis.js';
import { DbBackupError } from '../../domain/errors.js';
import { defaultKeyFile, isEncrypted } from '../../infrastructure/config/secrets.js';
import type { Settings } from '../../infrastructure/config/settings.js';
import { defaultDataDir } from '../../infrastructure/paths.js';
import { parseCron } from '../../domain/schedule-cron.js';
import { longestGap } from '../../domain/schedule-time.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';

export class DoctorCommand extends BaseCommand {
  static override paths = [['doctor']];
  static override usage = Command.Usage({
    description: 'Check what will break later: connections, TLS, versions, privileges, settings, storage, clock, keys, schedules',
    details: `
      For each source and target of the config (or one source and its targets with --source), and for
      this machine, prints one line per check; each warning and failure says how to fix it.
      A target takes a write, a read and a delete of a small probe object under .dbbackup-doctor/.
      Exits 0 when every check passes, 5 when some warn, 1 when one fails.
    `,
    examples: [
      ['Check everything in ./dbbackup.yaml', '$0 doctor'],
      ['The least privileges for each source and target of the config', '$0 doctor --print-grants'],
      ['A PostgreSQL backup role and restore role', '$0 doctor --print-grants --db postgres'],
      ['One source, as JSON', '$0 doctor --source main --json'],
    ],
  });

  source = Option.String('--source', { description: 'Only this source (and the targets of its backups)' });
  printGrants = Option.Boolean('--print-grants', false, { description: 'Print the least privileges (SQL GRANTs, cloud policies) instead of checking' });
  db = Option.String('--db', { description: 'With --print-grants: this engine\'s roles, with placeholder names (no config needed)' });

  protected async run(services: CliServices): Promise<number> {
    const s = services.settings;
    if (this.printGrants) return this.grants(services);
    if (this.db) throw new DbBackupError('E_USAGE', '--db goes with --print-grants.');
    const { input, findings } = this.doctorInput(s);
    if (this.source && !input.sources.some((x) => x.name === this.source) && !findings.length) {
      throw new DbBackupError('E_CONFIG', `No source "${this.source}" in ${s.config.path ?? 'the configuration'}.`);
    }
    findings.push(...(await services.runDoctor.execute(input, this.context.signal)));
    const code = doctorExitCode(findings);
    this.print(render(findings), { ok: code === 0, exitCode: code, findings });
    return code;
  }

  /** `--print-grants`: with --db that engine's script; else every configured source's and target's (or one source's). */
  private async grants(services: CliServices): Promise<number> {
    const input = this.db
      ? { engines: [this.db], sources: [], targets: [] }
      : (() => {
          const { input: d } = this.doctorInput(services.settings);
          return { engines: [], sources: d.sources, targets: d.targets };
        })();
    if (!this.db && !input.sources.length && !input.targets.length) throw new DbBackupError('E_USAGE', 'Name an engine with --db ENGINE, or configure sources and targets.');
    const scripts = await services.describeLeastPrivilege.execute(input);
    this.print(scripts.map((x) => `### ${x.title}\n${x.text.trimEnd()}\n`).join('\n'), { ok: true, grants: scripts });
    return this.ok();
  }

  /** The sources, targets and schedules to check, from the config; a source that cannot even be resolved is a finding already. */
  private doctorInput(s: Settings): { input: DoctorInput; findings: Finding[] } {
    const env = this.context.env;
    const findings: Finding[] = [];
    if (!s.config.path) findings.push(warn('config', 'config-file', 'no config file found: only this machine is checked', 'Pass --config FILE, set DBBACKUP_CONFIG, or create ./dbbackup.yaml.'));
    const section = s.config.section;
    const schedules = (section.schedules ?? []).filter((x) => x.task === 'backup' || x.task === undefined);
    const names = Object.keys(section.sources ?? {}).filter((n) => !this.source || n === this.source);
    const sources: DoctorInput['sources'] = [];
    const targetNames = new Set<string>(this.source ? [] : Object.keys(section.targets ?? {}));
    for (const name of names) {
      try {
        const r = s.source(name);
        const incremental = r.target.options?.capture === 'changes' || schedules.some((x) => x.source === name && (x.type === 'incremental' || x.type === 'differential'));
        const intervalMs = longestInterval(schedules.filter((x) => x.source === name && (x.type === 'incremental' || x.type === 'differential')));
        sources.push({ name, target: r.target, incremental, slotWarnBytes: s.slotWarnBytes(name).value, ...(intervalMs !== undefined ? { intervalMs } : {}) });
        for (const t of r.repositories) targetNames.add(t.name);
      } catch (err) {
        findings.push(fail(`source ${name}`, 'config', (err as Error).message, 'Fix the source in the config (`dbbackup config validate` shows every problem).'));
      }
    }
    const targets = [...targetNames].flatMap((name) => {
      const t = section.targets?.[name];
      return t ? [{ name, url: t.url }] : [];
    });
    const dataDir = s.pick({ name: '--data-dir', value: this.dataDir }, 'DBBACKUP_DATA_DIR', 'data-dir', '', String).value || defaultDataDir(env);
    const keyFile = (s.fileValue('master-key-file') as string | undefined) ?? defaultKeyFile(env);
    const input: DoctorInput = {
      sources,
      targets,
      schedules: schedules.filter((x) => x.source && names.includes(x.source)).map((x) => ({ name: x.name, source: x.source! })),
      tempDir: tmpdir(),
      dataDir,
      masterKey: { file: keyFile, fromEnv: Boolean(env.DBBACKUP_MASTER_KEY), needed: hasEncrypted(section) },
    };
    return { input, findings };
  }
}

const LABEL = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** Findings grouped by subject, in the order they came; a summary line last. */
function render(findings: Finding[]): string {
  const lines: string[] = [];
  const subjects = [...new Set(findings.map((f) => f.subject))];
  const width = Math.max(0, ...findings.map((f) => f.check.length));
  for (const subject of subjects) {
    lines.push(subject);
    for (const f of findings.filter((x) => x.subject === subject)) {
      lines.push(`  ${LABEL[f.status]}  ${f.check.padEnd(width)}  ${f.message}`);
      if (f.fix && f.status !== 'ok') lines.push(`  ${' '.repeat(6 + width)}  fix: ${f.fix}`);
    }
  }
  const count = (st: Finding['status']) => findings.filter((f) => f.status === st).length;
  lines.push('', `${count('fail')} failed, ${count('warn')} warnings, ${count('ok')} ok`);
  return lines.join('\n');
}

function hasEncrypted(value: unknown): boolean {
  if (typeof value === 'string') return isEncrypted(value);
  if (Array.isArray(value)) return value.some(hasEncrypted);
  if (value && typeof value === 'object') return Object.values(value).some(hasEncrypted);
  return false;
}

/** The longest wait between two runs of any of these schedules (ms): how long a change log must reach back. Schedules that do not parse are left to `config validate`. */
function longestInterval(schedules: { cron: string; timezone?: string }[]): number | undefined {
  let longest: number | undefined;
  for (const x of schedules) {
    try {
      const gap = longestGap(parseCron(x.cron), x.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone, Date.now());
      if (gap !== undefined) longest = Math.max(longest ?? 0, gap);
    } catch {
      // an invalid cron expression is a config finding of its own
    }
  }
  return longest;
}
