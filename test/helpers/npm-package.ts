import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm pack` of the built tree (`npm run build` first; prepack is skipped so a test never rebuilds dist/ under other tests). */
export async function packTarball(dest: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT, maxBuffer: 64 << 20 });
  const [info] = JSON.parse(stdout) as { filename: string }[];
  return join(dest, info!.filename);
}

/**
 * The native addons this checkout already built, as prebuild-install's local prebuilds
 * (`<name>-v<version>-<runtime>-v<abi>-<platform>-<arch>.tar.gz` holding build/Release/*.node):
 * their install scripts then unpack them as they would a downloaded prebuild instead of a ~80 s
 * node-gyp build. Returns the environment that points prebuild-install at them.
 */
export async function localPrebuilds(dir: string): Promise<NodeJS.ProcessEnv> {
  const addons = [
    { name: 'better-sqlite3', file: 'better_sqlite3.node', tag: `node-v${process.versions.modules}` },
    { name: 'zstd-napi', file: 'binding.node', tag: 'napi-v8' },
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const a of addons) {
    const pkgDir = dirname(require.resolve(`${a.name}/package.json`));
    const { version } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
    const stage = join(dir, 'stage', a.name);
    await mkdir(join(stage, 'build', 'Release'), { recursive: true });
    await copyFile(join(pkgDir, 'build', 'Release', a.file), join(stage, 'build', 'Release', a.file));
    await run('tar', ['czf', join(dir, `${a.name}-v${version}-${a.tag}-${process.platform}-${process.arch}.tar.gz`), '-C', stage, 'build']);
    env[`npm_config_${a.name.replace(/[^a-zA-Z0-9]/g, '_')}_local_prebuilds`] = dir;
  }
  return env;
}

/** `npm install -g TARBALL --prefix PREFIX`, from npm's cache where it can (the registry otherwise). */
export async function installGlobal(tarball: string, prefix: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return run(
    'npm',
    ['install', '-g', tarball, '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--allow-scripts=better-sqlite3,zstd-napi'],
    // nodedir: build from the headers Debian installed if a prebuild is missing (node-gyp cannot download them here).
    { env: { ...process.env, npm_config_nodedir: '/usr', ...env }, maxBuffer: 64 << 20, timeout: 900_000 },
  );
}
