import { Command } from 'clipanion';
import { DbBackupError, ExitCode } from '../../domain/errors.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';

export class NotifyTestCommand extends BaseCommand {
  static override paths = [['notify', 'test']];
  static override usage = Command.Usage({
    description: 'Send a test message through every configured notification channel',
    examples: [['Test the prod profile\'s channels', '$0 notify test --profile prod']],
  });

  protected async run(services: CliServices): Promise<number> {
    const r = await services.sendTestNotification.execute();
    if (r.channels.length === 0) throw new DbBackupError('E_CONFIG', 'No notification channels are configured (notifications: in the config file).');
    this.print(
      r.channels.map((c) => `${r.failed.includes(c) ? 'FAILED' : 'sent  '} ${c}`).join('\n'),
      { ok: r.failed.length === 0, sent: r.sent, failed: r.failed },
    );
    return r.failed.length ? ExitCode.failed : this.ok();
  }
}
