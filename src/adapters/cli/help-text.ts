import type { Definition } from 'clipanion';

/** The overview's groups, by a command's first word; a word not named here lands in "Other". */
const GROUPS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Backups', ['backup', 'restore', 'verify', 'compare', 'list', 'prune', 'pin', 'unpin']],
  ['Continuous', ['replicate', 'slot']],
  ['Scheduling', ['schedule', 'worker', 'fleet', 'k8s']],
  ['Dashboard', ['ui']],
  ['Setup', ['config', 'doctor', 'key', 'secret', 'storage', 'notify', 'self-update', 'completion', 'help', 'version']],
];

/** The name an option's value stands for (`--out PATH`), where its own name says too little. */
const VALUE_NAMES: Readonly<Record<string, string>> = {
  '--config': 'FILE',
  '--file': 'FILE',
  '--key-file': 'FILE',
  '--sign-key': 'FILE',
  '--verify-key': 'FILE',
  '--out': 'PATH',
  '--from': 'PATH',
  '--repo': 'PATH',
  '--data-dir': 'DIR',
  '--profile': 'NAME',
  '--source': 'NAME',
  '--level': 'N',
  '--parallel': 'N',
  '--limit': 'N',
  '--concurrency': 'N',
  '--queue': 'URL',
  '--image': 'IMAGE',
  '--namespace': 'NAME',
  '--config-map': 'NAME',
  '--secret': 'NAME',
  '--passphrase-env': 'VAR',
  '--db': 'ENGINE',
  '--socket': 'FILE',
  '--ssl-ca': 'FILE',
  '--ssl-cert': 'FILE',
  '--ssl-key': 'FILE',
  '--sslmode': 'MODE',
  '--ssl-mode': 'MODE',
  '--tables': 'LIST',
  '--exclude-tables': 'LIST',
  '--option': 'NAME=VALUE',
  '--compress': 'ALGO',
  '--listen': 'HOST:PORT',
  '--cert': 'FILE',
  '--key': 'FILE',
  '--password-hash-file': 'FILE',
};

/** A command as help shows it: its words after the binary, the line that says what it does, its flags. */
export interface HelpEntry {
  words: string[];
  definition: Definition;
}

export function valueName(option: string): string {
  if (VALUE_NAMES[option]) return VALUE_NAMES[option];
  if (option.endsWith('-endpoint') || option.endsWith('-url')) return 'URL';
  if (option.endsWith('-env')) return 'VAR';
  return option.replace(/^-+/, '').replace(/-/g, '_').toUpperCase();
}

/** `--out,-o #0` → `--out,-o PATH`: clipanion numbers values; a reader wants to know what goes there. */
export function nameValues(definition: string): string {
  const first = /^(-[-\w]+)/.exec(definition)?.[1] ?? '';
  return definition.replace(/#\d+/g, valueName(first.startsWith('--') ? first : (/(--[-\w]+)/.exec(definition)?.[1] ?? first)));
}

export function entries(definitions: Definition[], binary: string): HelpEntry[] {
  return definitions.map((definition) => ({ definition, words: definition.path.split(' ').slice(binary.split(' ').length) }));
}

/** The flags every configurable command takes (those of the commands with --config), shown once. */
export function globalFlags(all: HelpEntry[]): Definition['options'] {
  const withConfig = all.filter((e) => e.definition.options.some((o) => o.definition.startsWith('--config')));
  if (withConfig.length === 0) return [];
  return withConfig[0].definition.options.filter((o) =>
    withConfig.every((e) => e.definition.options.some((p) => p.definition === o.definition && p.description === o.description)),
  );
}

export function groupOf(words: string[]): string {
  return GROUPS.find(([, firsts]) => firsts.includes(words[0] ?? ''))?.[0] ?? 'Other';
}

function firstLine(text: string | undefined): string {
  return (text ?? '').trim().split('\n')[0] ?? '';
}

function table(rows: Array<[string, string]>, indent = '  '): string[] {
  const width = Math.min(34, Math.max(0, ...rows.map(([a]) => a.length)));
  return rows.map(([a, b]) => (b ? `${indent}${a.padEnd(width)}  ${b}` : `${indent}${a}`).trimEnd());
}

function flagRows(options: Definition['options']): Array<[string, string]> {
  return options.map((o) => [nameValues(o.definition), o.description ?? '']);
}

/** `dbbackup`, `dbbackup --help`, `dbbackup help`: the commands grouped by purpose, one line each, and the global flags once. */
export function renderOverview(all: HelpEntry[], binary: string, version: string): string {
  const shown = all.filter((e) => e.words.length > 0 && e.definition.description);
  const groups = [...GROUPS.map(([name]) => name), 'Other'];
  const lines = [`${binary} ${version}: back up and restore databases.`, '', `Usage: ${binary} COMMAND [options]`, ''];
  for (const group of groups) {
    const members = shown.filter((e) => groupOf(e.words) === group);
    if (members.length === 0) continue;
    lines.push(`${group}:`, ...table(members.map((e) => [e.words.join(' '), firstLine(e.definition.description)])), '');
  }
  lines.push('Global flags:', ...table(flagRows(globalFlags(all))), '');
  lines.push(`Run '${binary} help COMMAND' (or '${binary} COMMAND --help') for a command's flags and examples.`, '');
  return `${lines.join('\n')}\n`;
}

/** `dbbackup help CMD`, `dbbackup CMD --help`: what it does, its own flags, the global ones apart, examples. */
export function renderCommandHelp(entry: HelpEntry, all: HelpEntry[], binary: string): string {
  const globals = globalFlags(all);
  const isGlobal = (o: Definition['options'][number]) => globals.some((g) => g.definition === o.definition && g.description === o.description);
  const own = entry.definition.options.filter((o) => !isGlobal(o));
  const usesGlobals = entry.definition.options.some(isGlobal);
  const usage = `${nameValues(entry.definition.usage)}${own.length || usesGlobals ? ' [options]' : ''}`;
  const lines = [firstLine(entry.definition.description), '', `Usage: ${usage}`, ''];
  if (entry.definition.details) lines.push(entry.definition.details.trimEnd(), '');
  if (own.length) lines.push('Options:', ...table(flagRows(own)), '');
  if (usesGlobals) lines.push('Global flags:', ...table(flagRows(globals)), '');
  if (entry.definition.examples?.length) {
    lines.push('Examples:');
    for (const [what, how] of entry.definition.examples) lines.push(`  ${firstLine(what)}`, `    $ ${how}`, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The command `words` name: the longest registered path that starts them. */
export function findEntry(all: HelpEntry[], words: string[]): HelpEntry | undefined {
  const matches = all.filter((e) => e.words.length > 0 && e.words.every((w, i) => words[i] === w));
  return matches.sort((a, b) => b.words.length - a.words.length)[0];
}

/**
 * The argv clipanion should see: no words, `--help`/`-h` (before `--`) become the `help` command,
 * so every help goes through the same renderer.
 */
export function helpArgv(argv: readonly string[]): string[] {
  if (argv.length === 0) return ['help'];
  const end = argv.indexOf('--');
  const head = end < 0 ? [...argv] : argv.slice(0, end);
  if (!head.some((a) => a === '--help' || a === '-h')) return [...argv];
  if (head[0] === 'help') return head.filter((a) => a !== '--help' && a !== '-h');
  return ['help', ...head.filter((a) => !a.startsWith('-'))];
}
