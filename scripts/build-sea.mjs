#!/usr/bin/env node
// `npm run build:sea`: dist/sea/dbbackup, one file that runs dbbackup with no Node and no
// node_modules on the machine (a Node single executable application). It carries:
//   - the CLI bundled with its pure-JS dependencies (esbuild, ESM, lazily loaded chunks kept apart),
//   - the packages that must keep their files: the native addons (better-sqlite3, zstd-napi) and the
//     ones that start worker threads from their own files (pino, bree), with what they depend on,
//   - package.json, the catalog's migrations and the dashboard's page (dist/ui),
// as SEA assets, unpacked on first run into ~/.cache/dbbackup/sea/<version>-<id>/ (scripts/sea-main.cjs).
// The blob goes into a copy of this Node binary with scripts/sea-inject.mjs (postject's job).
// DBBACKUP_UPDATE_PUBLIC_KEYS (comma-separated Ed25519 public keys, raw base64) are baked in for self-update.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { injectSeaBlob } from './sea-inject.mjs';
import { gitCommit } from './bundle-commit.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = join(root, 'dist', 'sea');
const stage = join(out, 'stage');
if (!existsSync(join(root, 'dist', 'bootstrap', 'main.js'))) throw new Error('run `npm run build` first');
rmSync(out, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

/**
 * Packages that stay files under node_modules: native addons, those that start worker threads from
 * their own files, and whatever our modules load through createRequire (esbuild cannot follow it).
 */
const KEEP = [...new Set(['better-sqlite3', 'zstd-napi', 'pino', 'bree', ...requiredAtRunTime(join(root, 'dist'))])];
/** Of the native packages, only these files are needed at run time (no sources, no build intermediates). */
const NATIVE_FILES = {
  'better-sqlite3': ['package.json', 'lib', 'build/Release/better_sqlite3.node'],
  'zstd-napi': ['package.json', 'binding.js', 'dist', 'build/Release/binding.node'],
};

/** Package names our compiled modules require() through createRequire(import.meta.url). */
function requiredAtRunTime(dir) {
  const names = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js') || entry.parentPath.includes(`${'dist'}/bundle`) || entry.parentPath.includes('dist/sea')) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    if (!text.includes('createRequire(import.meta.url)')) continue;
    for (const m of text.matchAll(/(?:require|createRequire\(import\.meta\.url\))\('([^'.][^']*)'\)/g)) names.push(m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0]);
  }
  return names.filter((n) => !n.startsWith('node:'));
}

/**
 * With code splitting, esbuild gives `import('pkg')` of a CommonJS package a namespace holding only
 * `default` (module.exports), where Node also offers its named exports: our modules' dynamic imports
 * of packages get Node's shape back.
 */
const commonJsDynamicImports = {
  name: 'commonjs-dynamic-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/](adapters|application|bootstrap|domain|infrastructure)[\\/].*\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const rewritten = text.replace(/\bimport\((['"])((?!node:|\.)[^'"]+)\1\)/g, (_, q, name) => `import(${q}${name}${q}).then(__nodeShape)`);
      if (rewritten === text) return undefined;
      const helper =
        "const __nodeShape = (ns) => { const d = ns.default; return Object.keys(ns).length === 1 && d !== null && (typeof d === 'object' || typeof d === 'function') ? Object.assign({}, d, { default: d }) : ns; };\n";
      return { contents: helper + rewritten, loader: 'js' };
    });
  },
};

const keys = (process.env.DBBACKUP_UPDATE_PUBLIC_KEYS ?? '').split(',').map((k) => k.trim()).filter(Boolean);
await build({
  entryPoints: { main: join(root, 'dist/bootstrap/main.js'), 'schedule-worker': join(root, 'dist/bootstrap/schedule-worker.js') },
  outdir: join(stage, 'dist', 'bundle'),
  bundle: true,
  // Lazily loaded code (drivers, cloud SDKs) in chunks of its own, parsed only when a command needs it.
  splitting: true,
  plugins: [commonJsDynamicImports],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  external: KEEP.flatMap((name) => [name, `${name}/*`]),
  define: { __DBBACKUP_UPDATE_KEYS__: JSON.stringify(keys), __DBBACKUP_COMMIT__: JSON.stringify(gitCommit()) },
  logLevel: 'error',
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
});

// The packages in KEEP and everything they depend on, found as Node would resolve them.
const modules = join(root, 'node_modules');
const copied = new Set();
/** Dependencies only their install scripts use. */
const INSTALL_ONLY = new Set(['prebuild-install', 'node-addon-api', 'node-gyp']);
function copyPackage(name, from) {
  let dir = from;
  while (!existsSync(join(dir, 'node_modules', name, 'package.json'))) {
    if (dir === root || dir === dirname(dir)) throw new Error(`cannot find ${name} from ${from}`);
    dir = dirname(dir);
  }
  const src = join(dir, 'node_modules', name);
  if (copied.has(src)) return;
  copied.add(src);
  const dest = join(stage, relative(root, src));
  if (NATIVE_FILES[name]) for (const f of NATIVE_FILES[name]) cpSync(join(src, f), join(dest, f), { recursive: true });
  else cpSync(src, dest, { recursive: true, filter: (f) => !f.endsWith('.md') && !f.endsWith('.d.ts') && !f.endsWith('.map') });
  const meta = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...meta.dependencies, ...meta.optionalDependencies }).filter((d) => !INSTALL_ONLY.has(d))) {
    try {
      copyPackage(dep, src);
    } catch (err) {
      if (!meta.optionalDependencies?.[dep]) throw err;
    }
  }
}
for (const name of KEEP) copyPackage(name, root);
void modules;

cpSync(join(root, 'bin', 'dbbackup.js'), join(stage, 'bin', 'dbbackup.js'));
// bin/dbbackup.js is CommonJS (bin/package.json says so), as in a package install.
cpSync(join(root, 'bin', 'package.json'), join(stage, 'bin', 'package.json'));
cpSync(join(root, 'drizzle'), join(stage, 'drizzle'), { recursive: true });
// The dashboard's page (`dbbackup ui`), read from beside package.json as in a package install.
cpSync(join(root, 'dist', 'ui'), join(stage, 'dist', 'ui'), { recursive: true });
writeFileSync(join(stage, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', license: pkg.license }, null, 2));
writeFileSync(join(stage, 'sea-loader.cjs'), "import(require('node:url').pathToFileURL(require('node:path').join(__dirname, 'bin', 'dbbackup.js')).href);\n");

// Every staged file is an asset; files.json lists them (Node 20 has no call that lists assets).
const files = [];
(function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.isFile()) files.push(relative(stage, path).split('\\').join('/'));
  }
})(stage);
files.sort();
const hash = createHash('sha256');
for (const f of files) hash.update(f).update(readFileSync(join(stage, f)));
const id = hash.digest('hex').slice(0, 16);
writeFileSync(join(out, 'files.json'), JSON.stringify({ version: pkg.version, id, files }));
const assets = Object.fromEntries([...files.map((f) => [f, join(stage, f)]), ['files.json', join(out, 'files.json')]]);
writeFileSync(join(out, 'sea-config.json'), JSON.stringify({ main: join(root, 'scripts', 'sea-main.cjs'), output: join(out, 'dbbackup.blob'), disableExperimentalSEAWarning: true, assets }, null, 2));
execFileSync(process.execPath, ['--experimental-sea-config', join(out, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });

const exe = join(out, 'dbbackup');
writeFileSync(exe, injectSeaBlob(readFileSync(process.execPath), readFileSync(join(out, 'dbbackup.blob'))), { mode: 0o755 });
chmodSync(exe, 0o755);
rmSync(join(out, 'dbbackup.blob'));
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const staged = files.reduce((n, f) => n + statSync(join(stage, f)).size, 0);
console.log(`${relative(root, exe)}: ${mb(statSync(exe).size)} (Node ${process.version} + ${files.length} files, ${mb(staged)}); update keys: ${keys.length}`);
