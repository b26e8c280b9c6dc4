import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const dir = await tempDir();
afterAll(() => dir.cleanup());

describe('the built CLI: help and completion', () => {
  it('`dbbackup` alone and `dbbackup --help` print the grouped overview once, with the global flags once', async () => {
    const [bare, help] = await Promise.all([runCli([]), runCli(['--help'])]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toBe(help.stdout);
    for (const group of ['Backups:', 'Continuous:', 'Scheduling:', 'Setup:', 'Global flags:']) expect(bare.stdout).toContain(`\n${group}\n`);
    for (const line of ['  backup ', '  schedule add ', '  slot drop ', '  completion ']) expect(bare.stdout).toContain(line);
    expect(bare.stdout.match(/--data-dir/g)).toHaveLength(1);
    expect(bare.stdout).not.toMatch(/#\d/);
  });

  it('`dbbackup backup --help` names values and shows the global flags apart', async () => {
    const r = await runCli(['backup', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--out,-o PATH');
    expect(r.stdout).not.toMatch(/#\d/);
    expect(r.stdout).toMatch(/\nOptions:\n[\s\S]*\nGlobal flags:\n[\s\S]*\nExamples:\n/);
  });

  it('`dbbackup completion bash` is a script bash accepts', async () => {
    const r = await runCli(['completion', 'bash']);
    expect(r.code).toBe(0);
    const file = join(dir.path, 'dbbackup.bash');
    await writeFile(file, r.stdout);
    execFileSync('bash', ['-n', file]);
    expect(r.stdout).toContain("'schedule systemd-unit'");
  });
});
