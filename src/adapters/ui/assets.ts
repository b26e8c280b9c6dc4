import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DbBackupError } from '../../domain/errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The built front-end (dist/ui: index.html, app.js, app.css), read once at start: a few hundred KiB. */
export class DashboardAssets {
  private readonly files = new Map<string, { body: string; type: string }>();

  constructor(folder: string) {
    for (const name of ['index.html', 'app.js', 'app.css']) {
      const path = join(folder, name);
      if (!existsSync(path)) throw new DbBackupError('E_INTERNAL', `The dashboard's files are missing (${path}); run \`npm run build\` (a package install ships them).`);
      this.files.set(name, { body: readFileSync(path, 'utf8'), type: TYPES[name.slice(name.lastIndexOf('.'))]! });
    }
  }

  get(name: string): { body: string; type: string } | undefined {
    return this.files.get(name);
  }
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The sign-in page: a plain form (no script), for the token or the password. */
export function loginPage(options: { password: boolean; message?: string }): string {
  const field = options.password
    ? '<label>Password <input type="password" name="password" autocomplete="current-password" autofocus required></label>'
    : '<label>Token <input type="password" name="token" autocomplete="off" autofocus required></label>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>dbbackup — sign in</title><link rel="stylesheet" href="/assets/app.css"></head>
<body class="login"><main><h1>dbbackup</h1>
<p>${options.password ? 'Enter the dashboard password.' : 'Open the URL <code>dbbackup ui</code> printed, or paste its token.'}</p>
${options.message ? `<p class="error" role="alert">${escape(options.message)}</p>` : ''}
<form method="post" action="/login">${field}<button type="submit">Sign in</button></form></main></body></html>`;
}
