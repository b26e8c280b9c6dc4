import { describe, expect, it } from 'vitest';
import { plainName, restoreCommand, shellWord } from '../../../../src/adapters/ui/api-routes.js';
import type { DashboardDeps } from '../../../../src/adapters/ui/dashboard-deps.js';

describe('the restore command the dashboard shows', () => {
  it('quotes what a shell would split or expand, and names the config and catalog', () => {
    expect(['plain-id_1.2', '/srv/backups', 's3://b/p', "it's here", 'a b', '$(rm -rf x)', '`x`'].map(shellWord)).toEqual([
      'plain-id_1.2',
      '/srv/backups',
      's3://b/p',
      `'it'\\''s here'`,
      "'a b'",
      "'$(rm -rf x)'",
      "'`x`'",
    ]);
    const deps = { cliGlobals: ['--config', '/etc/my config.yaml'], sources: [{ name: 'main', engine: 'sqlite', targets: [] }] } as unknown as DashboardDeps;
    const configured = restoreCommand(deps, '/srv/backups', 'main', '20261207T060813Z-full-ctk1');
    expect(configured.text).toBe("dbbackup restore --from /srv/backups --backup 20261207T060813Z-full-ctk1 --source main --config '/etc/my config.yaml'");
    expect(configured.args).toEqual(['restore', '--from', '/srv/backups', '--backup', '20261207T060813Z-full-ctk1', '--source', 'main', '--config', '/etc/my config.yaml']);
    expect(configured.note).toMatch(/^Restores into source main's own database/);
    expect(restoreCommand(deps, '/srv/backups', 'other', 'x').note).toMatch(/^Source other is not in the config: add the target/);
  });

  it('takes only plain names and ids from a URL', () => {
    expect(plainName('20261207T060813Z-full-ctk1', 'backup id')).toBe('20261207T060813Z-full-ctk1');
    for (const bad of [undefined, '', '../etc', 'a/b', 'x'.repeat(201), 'a b']) expect(() => plainName(bad, 'backup id')).toThrow(/^Give a valid backup id\.$/);
  });
});
