import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinPlugins } from '../../../src/adapters/connectors/builtin-plugins.js';
import { loadConfig } from '../../../src/infrastructure/config/load-config.js';
import { Settings } from '../../../src/infrastructure/config/settings.js';
import { tempDir } from '../../helpers/temp.js';

const engines = new Map(builtinPlugins.map((p) => [p.engine, new Map(p.options.map((o) => [o.name, o.type]))]));
let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir('dbb-config-engines-');
});
afterAll(() => dir.cleanup());

async function load(name: string, text: string) {
  const path = join(dir.path, name);
  await writeFile(path, text);
  return loadConfig({ path, env: {}, engines });
}

describe("config sources take their engine plugin's options as keys", () => {
  it('passes an engine key to the connector as its option (kebab-case → camelCase), typed', async () => {
    const config = await load('ok.yaml', 'sources:\n  db: { engine: mysql, socket: /run/mysqld.sock, ssl-mode: REQUIRED, all-databases: "true", options: { partSize: 1024 } }\n');
    const target = new Settings(config, {}).source('db').target;
    expect(target).toMatchObject({ engine: 'mysql', options: { socket: '/run/mysqld.sock', sslMode: 'REQUIRED', allDatabases: true, partSize: 1024 } });
  });

  it("refuses another engine's key, naming who has it, and misspellings with a suggestion — every problem at once", async () => {
    const err = await load('bad.yaml', 'sources:\n  a: { engine: postgres, socket: /x, port: "54x2" }\n  b: { engine: mysql, sokcet: /x, all-databases: maybe }\n').catch((e: unknown) => e);
    const message = (err as Error).message;
    expect(message).toContain('sources.a.socket: unknown key for postgres (mysql has it)');
    expect(message).toContain('sources.a.port: expected a number');
    expect(message).toContain('sources.b.sokcet: unknown key (did you mean "socket"?)');
    expect(message).toContain('sources.b.all-databases: expected a boolean');
  });

  it("asks for the engines the config names (and its plugins:), and takes a plugin's keys like a built-in's; refuses engines none provides", async () => {
    const asked: unknown[] = [];
    const withDuckdb = async (used: { engines: string[]; plugins: string[]; baseDir: string }) => {
      asked.push(used);
      return new Map([...engines, ['duckdb', new Map([['threads', 'number' as const]])]]);
    };
    const path = join(dir.path, 'plugin.yaml');
    await writeFile(path, 'plugins: [dbbackup-connector-duckdb]\nsources:\n  d: { engine: duckdb, database: /data/a.duckdb, threads: "2" }\nprofiles:\n  p: { sources: { e: { engine: sqlite, database: x.db } } }\n');
    const config = await loadConfig({ path, env: {}, engines: withDuckdb });
    expect(asked).toEqual([{ engines: ['duckdb', 'sqlite'], plugins: ['dbbackup-connector-duckdb'], baseDir: dir.path }]);
    expect(new Settings(config, {}).source('d').target).toMatchObject({ engine: 'duckdb', options: { threads: 2 } });
    const err = await load('oracle.yaml', 'sources:\n  o: { engine: oracle, database: x }\n').catch((e: unknown) => e);
    expect((err as Error).message).toContain('sources.o.engine: expected one of "sqlite", "postgres", "mysql", "mongodb", got "oracle" (other engines are plugins: npm install dbbackup-connector-oracle');
  });
});
