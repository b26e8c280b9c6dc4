import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinPlugins } from '../../../src/adapters/connectors/builtin-plugins.js';
import { MapConnectorRegistry } from '../../../src/adapters/connectors/connector-registry.js';
import { checkPlugin } from '../../../src/adapters/connectors/plugin-check.js';
import { discoverPlugins } from '../../../src/adapters/connectors/plugin-loader.js';
import { engineFlags, declareEngineFlags, withAliases } from '../../../src/adapters/cli/engine-flags.js';
import { type ConnectorPlugin, optionKey } from '../../../src/application/ports/connector-plugin.js';
import type { DatabaseConnector } from '../../../src/application/ports/database-connector.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { tempDir } from '../../helpers/temp.js';

const CONNECTORS = fileURLToPath(new URL('../../../src/adapters/connectors/', import.meta.url));
const capabilities = { incremental: false, pointInTime: false, selectiveRestore: true, atomicRestore: false };

/** A plugin module's source: a connector that only says its engine. */
const pluginSource = (engine: string, extra = '') => `
export default {
  apiVersion: 1, engine: '${engine}', description: 'test', schemes: ['${engine}'], database: 'name', options: [], ${extra}
  capabilities: ${JSON.stringify(capabilities)},
  async load(host) { globalThis.loads = (globalThis.loads ?? 0) + 1; return { engine: '${engine}', capabilities: this.capabilities, connect: async () => { throw new host.DbBackupError('E_AUTH', 'no'); }, defaultSourceName: (t) => host.sourceNameFrom(t.database ?? 'x') }; },
};`;

async function writePackage(root: string, name: string, source: string, pkg: Record<string, unknown> = {}): Promise<void> {
  const dir = join(root, 'node_modules', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', exports: './main.js', ...pkg }));
  await writeFile(join(dir, 'main.js'), source);
}

describe('built-in connector plugins', () => {
  it('lists every engine folder that has a plugin, and each passes the plugin check', async () => {
    const folders = [];
    for (const entry of await readdir(CONNECTORS, { withFileTypes: true })) {
      if (entry.isDirectory() && (await readdir(join(CONNECTORS, entry.name))).includes(`${entry.name}-plugin.ts`)) folders.push(entry.name);
    }
    expect(builtinPlugins.map((p) => p.engine).sort()).toEqual(folders.sort());
    for (const p of builtinPlugins) expect(checkPlugin(p, p.engine)).toBe(p);
  });

  it('declares the CLI flags as the union of the engines\' options, per command, with common-flag aliases', () => {
    declareEngineFlags(builtinPlugins);
    const backup = engineFlags('backup');
    expect(backup.find((f) => f.key === 'sslCa')).toMatchObject({ flags: ['--ssl-ca', '--sslrootcert'], engines: ['postgres', 'mysql', 'mongodb'] });
    expect(backup.find((f) => f.key === 'allDatabases')).toMatchObject({ type: 'boolean', engines: ['mysql'] });
    expect(backup.some((f) => f.key === 'targetDatabase')).toBe(false);
    expect(engineFlags('restore').find((f) => f.key === 'targetDatabase')?.engines).toEqual(['mysql', 'mongodb']);
    expect(withAliases('--clean')).toBe('--clean,--drop');
    expect(withAliases('--tables')).toBe('--tables,--collections');
  });

  it('gives replicate the same connection options as backup and restore (the same declarations, not copies)', () => {
    declareEngineFlags(builtinPlugins);
    const connection = (verb: 'backup' | 'restore' | 'replicate') =>
      engineFlags(verb)
        .filter((f) => builtinPlugins.every((p) => p.options.every((o) => o.commands === undefined || optionKey(o.name) !== f.key)))
        .map((f) => `${f.key}:${f.flags.join(',')}:${f.engines.join(',')}`)
        .sort();
    const backup = connection('backup');
    expect(backup).toEqual(expect.arrayContaining(['sslmode:--sslmode:postgres', 'sslMode:--ssl-mode:postgres,mysql', 'sslCert:--ssl-cert,--sslcert:postgres,mysql,mongodb', 'socket:--socket:mysql']));
    expect(connection('replicate')).toEqual(backup);
    expect(connection('restore')).toEqual(backup);
    // Options that only mean something to some commands stay theirs.
    expect(engineFlags('replicate').map((f) => f.key)).toEqual(expect.arrayContaining(['captureDdl', 'replicaIdentityFull']));
    expect(engineFlags('replicate').some((f) => ['capture', 'strict', 'allDatabases', 'targetDatabase'].includes(f.key))).toBe(false);
  });
});

describe('MapConnectorRegistry with plugins', () => {
  it('loads a connector once, on first use, and hands the plugin the host', async () => {
    let loads = 0;
    const connector: DatabaseConnector = { engine: 'x', capabilities, connect: async () => ({}) as never, defaultSourceName: () => 'x' };
    const plugin: ConnectorPlugin = { apiVersion: 1, engine: 'x', description: '', schemes: [], database: 'name', options: [], capabilities, load: async (host) => (loads++, expect(host.apiVersion).toBe(1), connector) };
    const registry = new MapConnectorRegistry([plugin], { wrap: (c) => ({ ...c, defaultSourceName: () => 'wrapped' }) });
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([registry.get('x'), registry.get('x')]);
    expect(a).toBe(b);
    expect(a.defaultSourceName({ engine: 'x' })).toBe('wrapped');
    expect(loads).toBe(1);
  });

  it('looks for other plugins only for an engine it does not know, once; refuses unknown engines with E_UNSUPPORTED', async () => {
    let discoveries = 0;
    const registry = new MapConnectorRegistry(builtinPlugins.slice(), { discover: async () => (discoveries++, []) });
    await registry.plugin('postgres');
    expect(discoveries).toBe(0);
    const err = await registry.get('oracle').catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_UNSUPPORTED')).toBe(true);
    expect((err as Error).message).toMatch(/engines: sqlite, postgres, mysql, mongodb\. .*npm install dbbackup-connector-oracle/);
    await registry.plugins();
    expect(discoveries).toBe(1);
  });

  it('refuses a plugin whose load() returns a connector for another engine', async () => {
    const plugin: ConnectorPlugin = { apiVersion: 1, engine: 'x', description: '', schemes: [], database: 'name', options: [], capabilities, load: async () => ({ engine: 'y' }) as never };
    const err = await new MapConnectorRegistry([plugin]).get('x').catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_CONFIG')).toBe(true);
  });
});

describe('plugin discovery', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir('dbb-plugins-');
  });
  afterAll(() => dir.cleanup());

  it('finds dbbackup-connector-* packages (scoped too) above the folder, nearest first, and ignores other packages', async () => {
    const project = join(dir.path, 'a', 'project');
    await writePackage(project, 'dbbackup-connector-alpha', pluginSource('alpha'));
    await writePackage(join(dir.path, 'a'), '@acme/dbbackup-connector-beta', pluginSource('beta'), { exports: { '.': { import: './main.js' } } });
    await writePackage(join(dir.path, 'a'), 'dbbackup-connector-alpha', pluginSource('alpha', "description2: 'farther',"));
    await writePackage(project, 'left-pad', 'export default 1;');
    const found = await discoverPlugins({ configured: [], baseDir: project, searchFrom: [project], env: {} });
    expect(found.map((p) => p.engine)).toEqual(['alpha', 'beta', 'alpha']);
    const registry = new MapConnectorRegistry([], { discover: async () => found });
    expect((await registry.plugins()).map((p) => p.engine)).toEqual(['alpha', 'beta']);
    const connector = await registry.get('beta');
    const err = await connector.connect({ engine: 'beta' }, 'backup').catch((e: unknown) => e);
    // The plugin threw the host's own error class: exit codes work across packages.
    expect(isDbBackupError(err, 'E_AUTH')).toBe(true);
  });

  it("loads the config's plugins: entries (paths relative to the config, or package names) before installed ones", async () => {
    const base = join(dir.path, 'conf');
    await mkdir(base, { recursive: true });
    await writeFile(join(base, 'local-plugin.js'), pluginSource('gamma'));
    await writePackage(base, 'some-plugin-package', pluginSource('delta'));
    const found = await discoverPlugins({ configured: ['./local-plugin.js', 'some-plugin-package'], baseDir: base, searchFrom: [], env: {} });
    expect(found.slice(0, 2).map((p) => p.engine)).toEqual(['gamma', 'delta']);
    const missing = await discoverPlugins({ configured: ['nope-package'], baseDir: base, searchFrom: [], env: {} }).catch((e: unknown) => e);
    expect(isDbBackupError(missing, 'E_CONFIG')).toBe(true);
    expect((missing as Error).message).toMatch(/no package "nope-package" is installed/);
  });

  it('refuses, naming the package, a module that is not a usable plugin', async () => {
    const root = join(dir.path, 'bad');
    await writePackage(root, 'dbbackup-connector-bad', pluginSource('Bad Name'));
    const err = await discoverPlugins({ configured: [], baseDir: root, searchFrom: [root], env: {} }).catch((e: unknown) => e);
    expect(isDbBackupError(err, 'E_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/dbbackup-connector-bad is not a usable dbbackup connector plugin: engine "Bad Name"/);
    const old = checkPluginError({ ...builtinPlugins[0]!, apiVersion: 2 as never });
    expect(old).toMatch(/written for plugin API 2, this dbbackup speaks 1/);
  });
});

function checkPluginError(value: unknown): string {
  try {
    checkPlugin(value, 'X');
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}
