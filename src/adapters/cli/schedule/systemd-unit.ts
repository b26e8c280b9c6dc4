import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import type { CliServices } from '../context.js';
import { durationFlag } from './schedule-render.js';

export class ScheduleSystemdUnitCommand extends BaseCommand {
  static override paths = [['schedule', 'systemd-unit']];
  static override usage = Command.Usage({
    category: 'Schedules',
    description: 'Print a systemd service unit that runs the scheduler daemon',
    details: `
      The unit runs \`schedule run\` with this command's --config, --profile and --data-dir, restarts
      it on failure, and gives running jobs --stop-timeout (plus 30 s) to finish on stop.
    `,
    examples: [
      ['Install as a system service', '$0 schedule systemd-unit --config /etc/dbbackup.yaml --user backup > /etc/systemd/system/dbbackup.service && systemctl enable --now dbbackup'],
    ],
  });

  user = Option.String('--user', { description: 'Run as this user (default: root, or the user manager\'s user)' });
  stopTimeout = Option.String('--stop-timeout', '10m', { description: 'How long running jobs may take to finish on stop (default 10m)' });

  protected async run(services: CliServices): Promise<number> {
    const stopMs = durationFlag('--stop-timeout', this.stopTimeout)!;
    const script = process.argv[1] ? realpathSync(process.argv[1]) : 'dbbackup';
    const args = [process.execPath, script, 'schedule', 'run', '--stop-timeout', this.stopTimeout];
    if (services.settings.config.path) args.push('--config', services.settings.config.path);
    if (this.profile) args.push('--profile', this.profile);
    if (this.dataDir) args.push('--data-dir', resolve(this.dataDir));
    const lines = [
      '[Unit]',
      'Description=dbbackup scheduler (database backups on a schedule)',
      'Wants=network-online.target',
      'After=network-online.target',
      '',
      '[Service]',
      'Type=simple',
      `ExecStart=${args.map(quote).join(' ')}`,
      ...(this.user ? [`User=${this.user}`] : []),
      ...(this.context.env.DBBACKUP_DATA_DIR && !this.dataDir ? [`Environment=${quote(`DBBACKUP_DATA_DIR=${this.context.env.DBBACKUP_DATA_DIR}`)}`] : []),
      'Restart=on-failure',
      'RestartSec=10s',
      'KillSignal=SIGTERM',
      'KillMode=mixed',
      `TimeoutStopSec=${Math.ceil(stopMs / 1000) + 30}`,
      'NoNewPrivileges=true',
      'PrivateTmp=true',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ];
    this.context.stdout.write(lines.join('\n'));
    return this.ok();
  }
}

/** systemd's quoting: double quotes around anything with a space, quote or backslash. */
function quote(arg: string): string {
  return /[\s"\\]/.test(arg) ? `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : arg;
}
