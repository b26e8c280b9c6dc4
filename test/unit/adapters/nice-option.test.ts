import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLocalTarget, LOCAL_NICE, resolveNice } from '../../../src/adapters/cli/nice-option.js';
import { loadConfig } from '../../../src/infrastructure/config/load-config.js';
import { Settings } from '../../../src/infrastructure/config/settings.js';
import { lowerPriority } from '../../../src/infrastructure/process-priority.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('dbb-nice-');
});
afterAll(() => dir.cleanup());

const local = { engine: 'postgres', url: 'postgres://backup@127.0.0.1:5432/app' };
const remote = { engine: 'postgres', url: 'postgres://backup@db1.example.com:5432/app' };

async function settings(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<Settings> {
  const path = join(dir.path, `c${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(path, yaml);
  return new Settings(await loadConfig({ path, env }), env);
}

describe('--nice', () => {
  it('tells a database on this host from one elsewhere', () => {
    expect(isLocalTarget({ engine: 'sqlite', database: '/var/lib/app.db' })).toBe(true);
    expect(isLocalTarget(local)).toBe(true);
    expect(isLocalTarget({ engine: 'postgres', url: 'postgres://u@localhost/app' })).toBe(true);
    expect(isLocalTarget({ engine: 'postgres', url: 'postgres://u@[::1]:5432/app' })).toBe(true);
    expect(isLocalTarget({ engine: 'postgres', url: 'postgres://u@%2Fvar%2Frun%2Fpostgresql/app' })).toBe(true);
    expect(isLocalTarget({ engine: 'postgres', host: '/var/run/postgresql', database: 'app' })).toBe(true);
    expect(isLocalTarget({ engine: 'mysql', host: 'db1', options: { socket: '/run/mysqld/mysqld.sock' } })).toBe(true);
    expect(isLocalTarget(remote)).toBe(false);
    expect(isLocalTarget({ engine: 'mysql', host: '10.1.2.3', database: 'app' })).toBe(false);
    expect(isLocalTarget({ engine: 'postgres', url: 'postgres://u@localhost/app?host=db1.example.com' })).toBe(false);
  });

  it('defaults to auto: nice 10 for a local database, 0 for a remote one; a flag, the environment and the config override it', async () => {
    const none = await settings('{}\n');
    expect(resolveNice(none, undefined, local)).toEqual({ value: LOCAL_NICE, origin: 'default' });
    expect(resolveNice(none, undefined, remote).value).toBe(0);
    expect(resolveNice(none, '0', local)).toEqual({ value: 0, origin: 'flag --nice' });
    expect(resolveNice(none, '15', remote).value).toBe(15);
    expect(resolveNice(none, 'auto', remote).value).toBe(0);
    const env = await settings('{}\n', { DBBACKUP_NICE: '4' });
    expect(resolveNice(env, undefined, remote)).toEqual({ value: 4, origin: 'env DBBACKUP_NICE' });
    const file = await settings('defaults: { nice: 5 }\nbackups:\n  app: { nice: 0 }\n  other: { level: 3 }\n');
    expect(resolveNice(file, undefined, remote).value).toBe(5);
    expect(resolveNice(file, undefined, local, 'app').value).toBe(0);
    expect(resolveNice(file, undefined, remote, 'other').value).toBe(5);
  });

  it('refuses what is not a nice value from 0 to 19', async () => {
    const none = await settings('{}\n');
    for (const bad of ['-5', '20', 'high', '1.5']) expect(() => resolveNice(none, bad, local)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    await expect(settings('defaults: { nice: 25 }\n')).rejects.toMatchObject({ code: 'E_CONFIG' });
  });

  // Last: it lowers this test process's own priority (a little), which nothing after it minds.
  it('lowers every thread of the process and never raises a priority', () => {
    const threads = () => readdirSync('/proc/self/task').map((t) => getPriority(Number(t)));
    const start = getPriority(0);
    const want = Math.min(19, start + 2);
    expect(lowerPriority(want)).toBe(want);
    expect(threads().every((n) => n >= want)).toBe(true);
    expect(threads().length).toBeGreaterThan(1);
    expect(lowerPriority(start)).toBe(want);
    expect(getPriority(0)).toBe(want);
  });
});
