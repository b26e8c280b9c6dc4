import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Release, ReleaseChannel } from '../../application/ports/release-channel.js';
import { DbBackupError } from '../../domain/errors.js';
import { compareVersions, parseVersion } from '../../domain/version.js';
import { downloadVerified, fetchBounded } from './http-download.js';

const METADATA_LIMIT = 32 << 20;
const TARBALL_LIMIT = 256 << 20;

interface Packument {
  'dist-tags'?: { latest?: string };
  versions?: Record<string, { dist?: { tarball?: string; integrity?: string } }>;
  time?: Record<string, string>;
}

export interface NpmChannelOptions {
  /** e.g. https://registry.npmjs.org */
  registry: string;
  name: string;
  currentVersion: string;
  /** The npm prefix this copy was installed into (`<prefix>/lib/node_modules/<name>`). */
  prefix: string;
  /** Where the version an update replaced is remembered (for rollback). */
  stateFile: string;
  /** The npm command. */
  npm?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Updates of an `npm install -g` copy: the registry's newest version (dist-tags.latest), its
 * tarball checked against the registry's sha512 integrity, then `npm install -g` of that checked
 * file into the same prefix (npm fetches its dependencies as on a first install).
 */
export class NpmReleaseChannel implements ReleaseChannel {
  readonly kind = 'npm';

  constructor(private readonly options: NpmChannelOptions) {}

  get currentVersion(): string {
    return this.options.currentVersion;
  }

  async latest(signal?: AbortSignal): Promise<Release> {
    const doc = await this.packument(signal);
    const version = doc['dist-tags']?.latest;
    if (typeof version !== 'string') throw new DbBackupError('E_UPDATE', `The registry has no latest version of ${this.options.name}.`);
    return this.release(doc, version);
  }

  async install(release: Release, signal?: AbortSignal): Promise<void> {
    const { tarball, integrity } = release.ref as { tarball: string; integrity: string };
    const dir = await mkdtemp(join(tmpdir(), 'dbbackup-update-'));
    try {
      const file = join(dir, `${this.options.name}-${release.version}.tgz`);
      await downloadVerified(tarball, file, { limit: TARBALL_LIMIT, algorithm: 'sha512', digest: integrity.slice('sha512-'.length) }, 0o600, signal);
      await this.npmInstall(file, signal);
      await writeFile(this.options.stateFile, `${JSON.stringify({ previous: this.options.currentVersion })}\n`, { mode: 0o600 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async rollback(): Promise<string> {
    const state = JSON.parse(await readFile(this.options.stateFile, 'utf8').catch(() => '{}')) as { previous?: string };
    if (typeof state.previous !== 'string') throw new DbBackupError('E_UPDATE', 'No update has been installed with self-update, so there is no version to roll back to.');
    const doc = await this.packument();
    await this.install(this.release(doc, state.previous));
    return state.previous;
  }

  private async packument(signal?: AbortSignal): Promise<Packument> {
    const url = `${this.options.registry.replace(/\/+$/, '')}/${this.options.name.replace('/', '%2f')}`;
    try {
      return JSON.parse((await fetchBounded(url, METADATA_LIMIT, signal)).toString('utf8')) as Packument;
    } catch (err) {
      if (err instanceof SyntaxError) throw new DbBackupError('E_UPDATE', `${url} did not answer with package metadata.`);
      throw err;
    }
  }

  private release(doc: Packument, version: string): Release {
    parseVersion(version);
    const dist = doc.versions?.[version]?.dist;
    if (!dist?.tarball || !dist.integrity?.startsWith('sha512-')) {
      throw new DbBackupError('E_UPDATE_AUTH', `The registry gives no tarball with a sha512 integrity for ${this.options.name}@${version}; not installing it.`);
    }
    const newer = Object.keys(doc.versions ?? {})
      .filter((v) => /^\d+\.\d+\.\d+/.test(v) && compareVersions(v, this.options.currentVersion) > 0 && compareVersions(v, version) <= 0)
      .sort((a, b) => compareVersions(b, a));
    const changes = newer.slice(0, 50).map((v) => `${v}${doc.time?.[v] ? ` (${doc.time[v]!.slice(0, 10)})` : ''}`);
    return { version, changes, ref: { tarball: dist.tarball, integrity: dist.integrity } };
  }

  private npmInstall(file: string, signal?: AbortSignal): Promise<void> {
    const args = ['install', '-g', file, '--prefix', this.options.prefix, '--no-audit', '--no-fund', '--allow-scripts=better-sqlite3,zstd-napi'];
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.npm ?? 'npm', args, { env: this.options.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'], signal });
      let tail = '';
      child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-2000)));
      child.on('error', (err) => reject(new DbBackupError('E_UPDATE', `Cannot run npm: ${err.message}.`, { cause: err })));
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new DbBackupError('E_UPDATE', `npm install -g failed (exit ${code}); the installed version is unchanged. npm said: ${tail.trim().split('\n').slice(-3).join(' | ')}`)),
      );
    });
  }
}
