import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALWAYS, COMMAND_MODULES, commandsFor, ownParser } from '../../../src/bootstrap/commands.js';
import { allCommands } from '../../../src/bootstrap/main.js';

const names = (cs: readonly { name: string }[]) => cs.map((c) => c.name).sort();

describe('the command table', () => {
  it('lists each command under the first word of its paths, and every word of every path', async () => {
    for (const [word, load] of Object.entries(COMMAND_MODULES)) {
      for (const c of await load()) expect((c.paths ?? []).map((p) => p[0]), `${c.name} under "${word}"`).toContain(word);
    }
    for (const c of await allCommands()) {
      if (ALWAYS.includes(c)) continue;
      for (const path of c.paths ?? []) expect(Object.keys(COMMAND_MODULES), `${c.name} ${path.join(' ')}`).toContain(path[0]);
    }
  });

  it('has every command class of src/adapters/cli (a new command needs its line in the table)', async () => {
    const dir = join(import.meta.dirname, '../../../src/adapters/cli');
    const declared = readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => {
        const text = readFileSync(join(dir, f), 'utf8');
        return text.includes('static override paths') ? [...text.matchAll(/export class (\w+Command) extends/g)].map((m) => m[1]!) : [];
      });
    expect(declared.length).toBeGreaterThan(30);
    expect(names(await allCommands())).toEqual(expect.arrayContaining(declared));
  });

  it('loads the commands the first word names, with help and version', async () => {
    expect(names(await commandsFor(['backup', '--db', 'sqlite']))).toEqual(['BackupCommand', 'HelpCommand', 'VersionCommand']);
    expect(names(await commandsFor(['ls']))).toEqual(['HelpCommand', 'ListCommand', 'VersionCommand']);
    expect(names(await commandsFor(['--version']))).toEqual(['HelpCommand', 'VersionCommand']);
    expect(await commandsFor(['schedule', 'add'])).toHaveLength(9 + ALWAYS.length);
  });

  it('loads every command for help, completion and a word it does not know; help and completion parse with theirs alone', async () => {
    const all = names(await allCommands());
    expect(all.length).toBeGreaterThan(30);
    for (const argv of [['help'], ['help', 'restore'], [], ['completion', 'bash'], ['bakcup'], ['help', 'nothing']]) expect(names(await commandsFor(argv))).toEqual(all);
    expect(names((await ownParser(['help', 'restore']))!)).toEqual(['HelpCommand', 'VersionCommand']);
    expect(names((await ownParser(['completion', 'zsh']))!)).toEqual(['CompletionCommand', 'HelpCommand', 'VersionCommand']);
    expect(await ownParser(['backup'])).toBeUndefined();
  });
});
