import { PassThrough } from 'node:stream';
import { Cli } from 'clipanion';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../../src/adapters/cli/context.js';
import { helpArgv, nameValues } from '../../../src/adapters/cli/help-text.js';
import { allCommands } from '../../../src/bootstrap/main.js';

const commands = await allCommands();

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const cli = new Cli<CliContext>({ binaryLabel: 'dbbackup', binaryName: 'dbbackup', binaryVersion: '9.9.9' });
  for (const c of commands) cli.register(c);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const context = { stdin: new PassThrough(), stdout, stderr, colorDepth: 1, env: {}, signal: new AbortController().signal } as unknown as CliContext;
  const code = await cli.run(helpArgv(argv), context);
  return { code, out, err };
}

/** Every registered command's first path, as help names it. */
function registeredPaths(): string[] {
  return commands.map((c) => (c.paths?.[0] ?? []).join(' ')).filter((p) => p.length > 0);
}

describe('help', () => {
  it('`dbbackup`, `--help`, `-h` and `help` print the same grouped overview', async () => {
    const outs = await Promise.all([[], ['--help'], ['-h'], ['help']].map(run));
    for (const r of outs) expect(r.code).toBe(0);
    expect(new Set(outs.map((r) => r.out)).size).toBe(1);
    const out = outs[0].out;
    for (const group of ['Backups:', 'Continuous:', 'Scheduling:', 'Setup:', 'Global flags:']) expect(out).toContain(`\n${group}\n`);
    expect(out).not.toContain('Other:');
    expect(out).not.toMatch(/#\d/);
    expect(out).toContain('--config FILE');
  });

  it('lists every registered command exactly once, and each global flag once', async () => {
    const { out } = await run([]);
    const listed = out
      .split('\n')
      .filter((l) => /^ {2}\S/.test(l) && !l.trimStart().startsWith('--'))
      .map((l) => l.trim().split(/ {2,}/)[0]);
    const paths = registeredPaths();
    expect(paths.length).toBeGreaterThan(25);
    for (const p of paths) expect(listed.filter((l) => l === p), p).toHaveLength(1);
    expect(listed.length).toBe(paths.length);
    expect(out.match(/--data-dir/g)).toHaveLength(1);
    expect(out.match(/--verbose/g)).toHaveLength(1);
  });

  it('per-command help names values, keeps the global flags apart, and is the same by `help CMD` and `CMD --help`', async () => {
    const a = await run(['help', 'backup']);
    const b = await run(['backup', '--help']);
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    expect(a.out).toContain('--out,-o PATH');
    expect(a.out).not.toMatch(/#\d/);
    const [own, globals] = a.out.split('\nGlobal flags:\n');
    expect(own).toContain('\nOptions:\n');
    expect(own).not.toContain('--data-dir');
    expect(globals).toContain('--data-dir DIR');
    const nested = await run(['schedule', 'add', '-h']);
    expect(nested.out.split('\n')[0]).toMatch(/^Add a schedule/);
  });

  it('no command help has a numbered value', async () => {
    for (const p of registeredPaths()) {
      const r = await run(['help', ...p.split(' ')]);
      expect(r.code, p).toBe(0);
      expect(r.out, p).not.toMatch(/#\d/);
    }
  });

  it('a group word lists the commands under it', async () => {
    const r = await run(['schedule', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('\nScheduling:\n');
    expect(r.out).toContain('schedule systemd-unit');
    expect(r.out).not.toContain('  backup ');
  });

  it('an unknown command is a usage error', async () => {
    const r = await run(['help', 'bogus']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('E_USAGE');
  });

  it('helpArgv routes every spelling of help and leaves the rest alone', () => {
    expect(helpArgv([])).toEqual(['help']);
    expect(helpArgv(['backup', '--out', 'x', '--help'])).toEqual(['help', 'backup', 'x']);
    expect(helpArgv(['help', 'key', 'list', '-h'])).toEqual(['help', 'key', 'list']);
    expect(helpArgv(['backup', '--', '--help'])).toEqual(['backup', '--', '--help']);
    expect(helpArgv(['--version'])).toEqual(['--version']);
  });

  it('names values from the option', () => {
    expect(nameValues('--out,-o #0')).toBe('--out,-o PATH');
    expect(nameValues('--s3-endpoint #0')).toBe('--s3-endpoint URL');
    expect(nameValues('--type #0')).toBe('--type TYPE');
  });
});
