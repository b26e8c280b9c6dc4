import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Cli } from 'clipanion';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../../../src/adapters/cli/context.js';
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
  const code = await cli.run(argv, context);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'dbbackup-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const has = (shell: string) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
const paths = commands.map((c) => (c.paths?.[0] ?? []).filter((w) => !w.startsWith('-'))).filter((p) => p.length > 0);

describe('dbbackup completion', () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    it(`${shell}: names every command word and flag of the registered commands`, async () => {
      const { code, out } = await run(['completion', shell]);
      expect(code).toBe(0);
      for (const path of paths) for (const word of path) expect(out, path.join(' ')).toContain(word);
      for (const path of paths.filter((p) => p.length > 1)) expect(out, path.join(' ')).toContain(path.join(' '));
      expect(out).toMatch(shell === 'fish' ? /-l out\b/ : /--out\b/);
      expect(out).toMatch(shell === 'fish' ? /-l replica-identity-full\b/ : /--replica-identity-full\b/);
      expect(out).not.toMatch(/#\d/);
      if (has(shell)) {
        const file = join(dir, `c.${shell}`);
        writeFileSync(file, out);
        execFileSync(shell, ['-n', file]);
      }
    });
  }

  it('bash: completes subcommands and the flags of the command typed so far', async () => {
    const file = join(dir, 'complete.bash');
    writeFileSync(file, (await run(['completion', 'bash'])).out);
    const probe = (...words: string[]) =>
      execFileSync('bash', ['-c', `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dbbackup; echo "\${COMPREPLY[*]}"`, 'x', file, 'dbbackup', ...words], {
        encoding: 'utf8',
      }).trim();
    expect(probe('sch')).toBe('schedule');
    expect(probe('schedule', '').split(' ')).toEqual(expect.arrayContaining(['add', 'list', 'remove', 'systemd-unit']));
    expect(probe('backup', '--ou')).toBe('--out');
    expect(probe('key', 'list', '--js')).toBe('--json');
    expect(probe('list', '--ou')).toBe('');
    expect(probe('backup', '')).toBe('');
  });

  it('an unknown shell is a usage error', async () => {
    const r = await run(['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('E_USAGE');
  });
});
