import { createRequire } from 'node:module';

declare const __DBBACKUP_COMMIT__: string | undefined;

export interface RuntimeInfo {
  version: string;
  /** The git commit the build came from (`unknown` for an unbuilt checkout). */
  commit: string;
  node: string;
  platform: string;
  /** How this copy runs: the single executable, an npm install, or a source checkout. */
  install: 'single executable' | 'npm' | 'checkout';
  /** Optional parts: whether each is there (native ones: whether it loads). */
  parts: { name: string; status: 'loads' | 'installed' | 'built in' | 'missing' }[];
}

const OPTIONAL = [
  { name: 'native zstd (zstd-napi)', module: 'zstd-napi/binding', native: true },
  { name: 'SQLite (better-sqlite3)', module: 'better-sqlite3', native: true },
  { name: 'S3 (@aws-sdk/client-s3)', module: '@aws-sdk/client-s3', native: false },
  { name: 'Google Cloud Storage (@google-cloud/storage)', module: '@google-cloud/storage', native: false },
  { name: 'Azure Blob (@azure/storage-blob)', module: '@azure/storage-blob', native: false },
];

/**
 * `dbbackup --version`: the build and which optional parts this copy has. Native addons are loaded
 * (a few ms) to prove they work here; SDKs are only looked up, never loaded.
 */
export async function runtimeInfo(version: string, packageRoot: string): Promise<RuntimeInfo> {
  const sea = await import('node:sea').then(
    (m) => m.isSea(),
    () => false,
  );
  const require = createRequire(import.meta.url);
  const parts = OPTIONAL.map((p): RuntimeInfo['parts'][number] => {
    try {
      if (p.native) {
        require(p.module);
        return { name: p.name, status: 'loads' };
      }
      require.resolve(p.module);
      return { name: p.name, status: 'installed' };
    } catch {
      return { name: p.name, status: sea && !p.native ? 'built in' : 'missing' };
    }
  });
  return {
    version,
    commit: typeof __DBBACKUP_COMMIT__ === 'string' ? __DBBACKUP_COMMIT__ : 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    install: sea ? 'single executable' : /[\\/]node_modules[\\/]/.test(packageRoot) ? 'npm' : 'checkout',
    parts,
  };
}
