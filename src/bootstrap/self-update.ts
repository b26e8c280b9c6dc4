import { basename, dirname, join } from 'node:path';
import type { Container } from 'inversify';
import type { ReleaseChannel } from '../application/ports/release-channel.js';
import { DEFAULT_SCHEDULER_OPTIONS } from '../application/use-cases/run-scheduler.js';
import { SelfUpdate } from '../application/use-cases/self-update.js';
import { NpmReleaseChannel } from '../adapters/update/npm-release-channel.js';
import { SeaReleaseChannel } from '../adapters/update/sea-release-channel.js';
import { BUILT_IN_UPDATE_KEYS } from '../adapters/update/update-keys.js';
import { DbBackupError } from '../domain/errors.js';
import { packagePath } from '../infrastructure/paths.js';
import type { RuntimeConfig } from './runtime-config.js';
import { Tokens } from './tokens.js';

export interface SelfUpdateOptions {
  /** The single executable's update URL (else DBBACKUP_UPDATE_URL). */
  updateUrl?: string;
  /** The npm registry (else npm_config_registry, else registry.npmjs.org). */
  registry?: string;
}

async function isSea(): Promise<boolean> {
  try {
    return (await import('node:sea')).isSea();
  } catch {
    return false;
  }
}

/** The channel this copy updates through: its single executable, or the npm prefix it was installed into. */
async function channelFor(runtime: RuntimeConfig, options: SelfUpdateOptions): Promise<ReleaseChannel> {
  const env = runtime.env ?? process.env;
  if (await isSea()) {
    const url = options.updateUrl ?? env.DBBACKUP_UPDATE_URL;
    if (!url) throw new DbBackupError('E_USAGE', 'Name the update URL with --update-url URL or DBBACKUP_UPDATE_URL.');
    return new SeaReleaseChannel({ url, executable: process.execPath, currentVersion: runtime.toolVersion, publicKeys: BUILT_IN_UPDATE_KEYS, platform: `${process.platform}-${process.arch}` });
  }
  const root = packagePath();
  const modules = dirname(root);
  if (basename(modules) !== 'node_modules') {
    throw new DbBackupError('E_UPDATE', `This copy runs from a source checkout (${root}); update it with git pull && npm ci && npm run build.`);
  }
  // <prefix>/lib/node_modules/dbbackup on POSIX, <prefix>/node_modules/dbbackup on Windows.
  const prefix = basename(dirname(modules)) === 'lib' ? dirname(dirname(modules)) : dirname(modules);
  return new NpmReleaseChannel({
    registry: options.registry ?? env.npm_config_registry ?? 'https://registry.npmjs.org',
    name: 'dbbackup',
    currentVersion: runtime.toolVersion,
    prefix,
    stateFile: join(runtime.dataDir, 'self-update.json'),
    env,
  });
}

/** `self-update`, refusing while a scheduled job holds a live lock (a daemon never swaps its binary under a job). */
export async function buildSelfUpdate(container: Container, runtime: RuntimeConfig, options: SelfUpdateOptions): Promise<SelfUpdate> {
  const channel = await channelFor(runtime, options);
  const busy = async () => {
    const store = container.get(Tokens.ScheduleStore);
    const live = Date.now() - DEFAULT_SCHEDULER_OPTIONS.lockStaleMs;
    const running = (await store.locks()).filter((l) => l.heartbeatAt.getTime() > live);
    return running.length ? `the scheduled job ${running.map((l) => l.name).join(', ')} is running` : undefined;
  };
  return new SelfUpdate({ channel, busy });
}
