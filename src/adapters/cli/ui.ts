import { readFileSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import { DbBackupError } from '../../domain/errors.js';
import { registerSecret } from '../../infrastructure/redact.js';
import { hashPassword, isLoopback, newToken, parseListen } from '../ui/security.js';
import { BaseCommand } from './base-command.js';
import type { CliServices } from './context.js';
import { readSecretInput } from './prompt.js';

export class UiCommand extends BaseCommand {
  static override paths = [['ui']];
  static override usage = Command.Usage({
    description: 'Serve the web dashboard: sources, backups, charts, storage, schedules; backup, verify and pin from the page',
    details: `
      Serves a dashboard over this machine's catalog and config until Ctrl-C. It prints its URL with
      a random token (as Jupyter does): opening it sets a session cookie (HttpOnly, SameSite=Strict)
      and drops the token from the address bar; \`/api/…\` without a session answers 401.

      It listens on 127.0.0.1:8787 by default. Any other address must be given --cert and --key
      (TLS). With --password-hash-file, a password (its scrypt hash, from \`--hash-password\`)
      signs in instead of a printed token. Actions (backup now, verify, pin or unpin, a restore
      dry run) are confirmed in the page, checked against a CSRF token, run one at a time and
      logged; every request is logged (JSON lines on stderr and in the log file), never the token.
      Restores stay in the CLI: the page shows the exact command.
      Exit codes: 0 stopped by Ctrl-C/SIGTERM, 2 bad usage (an address that needs TLS, a port in use).
    `,
    examples: [
      ['On this machine', '$0 ui'],
      ['Another port, with a config', '$0 ui --listen 127.0.0.1:9000 --config /etc/dbbackup.yaml'],
      ['Make a password hash', '$0 ui --hash-password > ~/.config/dbbackup/ui-password'],
      ['On the network, TLS and a password', '$0 ui --listen 0.0.0.0:8443 --cert cert.pem --key key.pem --password-hash-file ~/.config/dbbackup/ui-password'],
    ],
  });

  listen = Option.String('--listen', '127.0.0.1:8787', { description: 'HOST:PORT to listen on (default 127.0.0.1:8787; other than loopback needs --cert/--key)' });
  cert = Option.String('--cert', { description: 'TLS certificate (PEM file)' });
  key = Option.String('--key', { description: 'TLS private key (PEM file)' });
  tokenEnv = Option.String('--token-env', { description: 'Take the access token from this environment variable instead of a random one' });
  passwordHashFile = Option.String('--password-hash-file', { description: 'Sign in with a password: the file holds its hash (`--hash-password`)' });
  hashPasswordFlag = Option.Boolean('--hash-password', false, { description: 'Read a password (prompt or stdin), print its scrypt hash for --password-hash-file, and exit' });

  protected async run(services: CliServices): Promise<number> {
    if (this.hashPasswordFlag) {
      const password = await readSecretInput(this.context.stdin as NodeJS.ReadStream, this.context.stderr, 'Dashboard password: ');
      this.context.stdout.write(`${await hashPassword(password)}\n`);
      return this.ok();
    }
    const listen = parseListen(this.listen);
    if ((this.cert === undefined) !== (this.key === undefined)) throw new DbBackupError('E_USAGE', 'Give --cert and --key together.');
    if (!isLoopback(listen.host) && !this.cert) throw new DbBackupError('E_USAGE', `--listen ${listen.host} is reachable from other machines: give --cert and --key (TLS), or listen on 127.0.0.1.`);
    const tls = this.cert && this.key ? { cert: readPem(this.cert, '--cert'), key: readPem(this.key, '--key') } : undefined;
    const passwordHash = this.passwordHashFile ? readPem(this.passwordHashFile, '--password-hash-file').toString('utf8').trim() : undefined;
    const token = this.tokenEnv ? this.context.env[this.tokenEnv] : passwordHash ? undefined : newToken();
    if (this.tokenEnv && (!token || token.length < 16)) throw new DbBackupError('E_USAGE', `${this.tokenEnv} must hold a token of at least 16 characters.`);
    registerSecret(token);
    const dashboard = await services.dashboard({ listen, tls, auth: { token, passwordHash }, logLevel: this.verbose ? 'debug' : this.quiet ? 'warn' : 'info' }, this.context.signal);
    const url = token && !this.tokenEnv ? `${dashboard.origin}/?token=${token}` : `${dashboard.origin}/`;
    // The URL (with its token) goes to stdout only: never into a log.
    if (this.json) this.context.stdout.write(`${JSON.stringify({ ok: true, url })}\n`);
    else this.context.stdout.write(`dbbackup dashboard: ${url}\n(Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      if (this.context.signal.aborted) resolve();
      else this.context.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await dashboard.close();
    return this.ok();
  }
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new DbBackupError('E_USAGE', `${flag} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
}
