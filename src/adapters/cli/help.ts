import { Command, Option } from 'clipanion';
import { ExitCode } from '../../domain/errors.js';
import type { CliContext } from './context.js';
import { entries, findEntry, renderCommandHelp, renderOverview } from './help-text.js';

/** `dbbackup help [COMMAND…]` (also `dbbackup`, `--help`, `-h`, `COMMAND --help`; see helpArgv). */
export class HelpCommand extends Command<CliContext> {
  static override paths = [['help']];
  static override usage = Command.Usage({ description: 'Show the commands, or one command’s flags and examples' });

  words = Option.Rest();

  async execute(): Promise<number> {
    const all = entries(this.cli.definitions(), this.cli.binaryName);
    if (this.words.length === 0) {
      this.context.stdout.write(renderOverview(all, this.cli.binaryName, this.cli.binaryVersion ?? ''));
      return 0;
    }
    const entry = findEntry(all, this.words);
    const under = all.filter((e) => this.words.every((w, i) => e.words[i] === w));
    if (!entry && under.length > 0) {
      // `dbbackup help schedule`: the commands under that word.
      this.context.stdout.write(renderOverview(under, this.cli.binaryName, this.cli.binaryVersion ?? ''));
      return 0;
    }
    if (!entry) {
      this.context.stderr.write(`error E_USAGE: no command '${this.words.join(' ')}'; '${this.cli.binaryName} help' lists them.\n`);
      return ExitCode.usage;
    }
    this.context.stdout.write(renderCommandHelp(entry, all, this.cli.binaryName));
    return 0;
  }
}
