import { Command, Option } from 'clipanion';
import { ExitCode } from '../../domain/errors.js';
import type { CliContext } from './context.js';
import { bashScript, fishScript, zshScript } from './completion-scripts.js';
import { entries } from './help-text.js';

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

/** `dbbackup completion bash|zsh|fish`: a completion script generated from the registered commands. */
export class CompletionCommand extends Command<CliContext> {
  static override paths = [['completion']];
  static override usage = Command.Usage({
    description: 'Print a shell completion script (bash, zsh or fish), generated from the commands and their flags',
    examples: [
      ['Bash, for this shell', 'source <(dbbackup completion bash)'],
      ['Zsh, installed', 'dbbackup completion zsh > "${fpath[1]}/_dbbackup"'],
      ['Fish, installed', 'dbbackup completion fish > ~/.config/fish/completions/dbbackup.fish'],
    ],
  });

  shell = Option.String();

  async execute(): Promise<number> {
    const make = SHELLS[this.shell as keyof typeof SHELLS];
    if (!Object.hasOwn(SHELLS, this.shell) || !make) {
      this.context.stderr.write(`error E_USAGE: no completion for '${this.shell}'; choose bash, zsh or fish.\n`);
      return ExitCode.usage;
    }
    this.context.stdout.write(make(entries(this.cli.definitions(), this.cli.binaryName), this.cli.binaryName));
    return 0;
  }
}
