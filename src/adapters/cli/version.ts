import { Command, Option } from 'clipanion';
import type { RuntimeInfo } from '../../infrastructure/runtime-info.js';
import type { CliContext } from './context.js';

/**
 * `dbbackup --version` (and `dbbackup version`): version, commit, Node, and which optional parts
 * this copy has. Needs no config; `--short` prints the bare version for scripts.
 */
export class VersionCommand extends Command<CliContext> {
  static override paths = [['version'], ['--version']];
  static override usage = Command.Usage({ description: 'Print the version, the build and the optional parts this copy has' });

  short = Option.Boolean('--short', false, { description: 'Only the version number' });
  json = Option.Boolean('--json', false, { description: 'As JSON' });

  async execute(): Promise<number> {
    const info = await this.context.runtimeInfo();
    if (this.short) this.context.stdout.write(`${info.version}\n`);
    else if (this.json) this.context.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    else this.context.stdout.write(render(info));
    return 0;
  }
}

function render(info: RuntimeInfo): string {
  const width = Math.max(...info.parts.map((p) => p.name.length));
  return [
    `dbbackup ${info.version} (commit ${info.commit}) on Node ${info.node} ${info.platform}, ${info.install}`,
    ...info.parts.map((p) => `  ${p.name.padEnd(width)}  ${p.status}`),
    '',
  ].join('\n');
}
