#!/usr/bin/env node
// Bundles the compiled CLI (dist/) into dist/bundle/: one file to parse at start-up instead of a few
// hundred ESM modules, which halves the CLI's start-up. Lazily loaded code (connectors, cloud
// stores, the catalog) stays in chunks of its own and loads on first use, as before.
//
// Dependencies stay external (loaded from node_modules as usual) unless listed in BUNDLED: native
// addons, packages that start worker threads from their own files (bree) and the large lazily
// loaded SDKs must keep their layout. BUNDLED are the pure-JS packages every run loads. pino is
// one of them: only its transports start threads from its files, and dbbackup uses none (it writes
// to a destination object); logging.ts requires it lazily, so it runs only when a line is logged.
// pg and pg-copy-streams are bundled into the PostgreSQL connector's chunk (see pg-driver.ts).
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { gitCommit } from './bundle-commit.mjs';

/**
 * Clipanion as bundled, edited so that a command's start touches neither stdin nor node:tty, and
 * builds its parser without a quadratic merge (core.js, below):
 * its default context read `process.stdin` (which builds the stdin stream: for a pipe, node:net
 * and a socket) and a terminal's colour depth (node:tty, which loads node:net too) when it loaded,
 * and its contexts were merged with spreads, which read every getter. Now the default context's
 * stdin and colorDepth are getters, read when a command reads them, the merges keep getters as
 * getters, and node:tty loads on the colour depth's first read. Each edit must find its text: a
 * changed clipanion fails the build here rather than losing the edit silently.
 */
const lazyClipanion = {
  name: 'lazy-clipanion-context',
  setup(b) {
    const edit = (text, file, from, to) => {
      if (!text.includes(from)) throw new Error(`scripts/bundle.mjs: clipanion's ${file} no longer has ${JSON.stringify(from.slice(0, 60))}; update lazyClipanion`);
      return text.split(from).join(to);
    };
    const merge = '__mergeContexts';
    const mergeFn = `function ${merge}(...contexts) { const out = {}; for (const c of contexts) if (c) Object.defineProperties(out, Object.getOwnPropertyDescriptors(c)); return out; }\n`;
    b.onLoad({ filter: /clipanion[\\/]lib[\\/]advanced[\\/]Cli\.js$/ }, async (args) => {
      let text = readFileSync(args.path, 'utf8');
      text = edit(text, 'Cli.js', '{\n            ...Cli.defaultContext,\n            ...userContext,\n        }', `${merge}(Cli.defaultContext, userContext)`);
      text = edit(text, 'Cli.js', '{ ...context, ...subContext }', `${merge}(context, subContext)`);
      text = edit(text, 'Cli.js', '    stdin: process.stdin,\n', '    get stdin() { return process.stdin; },\n');
      text = edit(text, 'Cli.js', '    colorDepth: platform.getDefaultColorDepth(),\n', '    get colorDepth() { return platform.getDefaultColorDepth(); },\n');
      return { contents: mergeFn + text, loader: 'js' };
    });
    // simplifyMachine merged each shortcut's transitions with a scan of the list per transition
    // (quadratic in a command's flags: backup's are many); a Set per segment keeps the same order.
    b.onLoad({ filter: /clipanion[\\/]lib[\\/]core\.js$/ }, async (args) => {
      let text = readFileSync(args.path, 'utf8');
      text = edit(text, 'core.js', 'const shortcuts = new Set(nodeDef.shortcuts.map(({ to }) => to));\n', 'const shortcuts = new Set(nodeDef.shortcuts.map(({ to }) => to));\n        const targets = new Map();\n');
      text = edit(
        text,
        'core.js',
        '                for (const transition of transitions) {\n                    if (!store.some(({ to }) => transition.to === to)) {\n                        store.push(transition);\n                    }\n                }\n',
        '                let seen = targets.get(segment);\n                if (seen === undefined) targets.set(segment, seen = new Set(store.map(({ to }) => to)));\n                for (const transition of transitions) {\n                    if (!seen.has(transition.to)) {\n                        store.push(transition);\n                        seen.add(transition.to);\n                    }\n                }\n',
      );
      return { contents: text, loader: 'js' };
    });
    b.onLoad({ filter: /clipanion[\\/]lib[\\/]platform[\\/]node\.js$/ }, async (args) => {
      let text = readFileSync(args.path, 'utf8');
      text = edit(text, 'platform/node.js', "var tty = require('tty');\n", '');
      text = edit(text, 'platform/node.js', 'var tty__default = /*#__PURE__*/_interopDefaultLegacy(tty);', "var tty__default = { get default() { return require('tty'); } };");
      return { contents: text, loader: 'js' };
    });
  },
};

const BUNDLED = new Set(['inversify', 'clipanion', 'typanion', 'reflect-metadata', 'croner', 'drizzle-orm', 'pino', 'pg', 'pg-copy-streams']);
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const external = Object.keys(pkg.dependencies)
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`])
  // pg's optional native driver and its Cloudflare Workers socket: required only where they exist.
  .concat(['pg-native', 'pg-cloudflare', 'cloudflare:sockets']);

// Built beside and swapped in with renames, so that a CLI started meanwhile (a test run, a
// scheduler worker) never finds the folder half-written.
const dist = fileURLToPath(new URL('../dist', import.meta.url));
const fresh = join(dist, `.bundle-${process.pid}`);
const old = join(dist, `.bundle-old-${process.pid}`);
await build({
  entryPoints: { main: 'dist/bootstrap/main.js', 'schedule-worker': 'dist/bootstrap/schedule-worker.js' },
  outdir: fresh,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  plugins: [lazyClipanion],
  define: { __DBBACKUP_COMMIT__: JSON.stringify(gitCommit()) },
  sourcemap: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS packages call require() for Node's built-ins; ESM has none of its own.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
});
// The CLI again as one CommonJS file (cli.cjs) and the start that runs it with V8's code cache
// (start.cjs; src/bootstrap/start.ts, src/infrastructure/code-cache.ts): Node 20 caches no compiled
// code of ES modules, and resolving and linking the chunks costs as much as compiling them.
// Dynamic imports of our own modules become lazily run parts of the file; import() of packages stays.
const commonJs = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  plugins: [lazyClipanion],
  logLevel: 'warning',
  define: { __DBBACKUP_COMMIT__: JSON.stringify(gitCommit()), 'import.meta.url': '__bundleUrl' },
  // No comments, and ASCII (but in raw template literals): the start reads it faster as one-byte text.
  minifyWhitespace: true,
  charset: 'ascii',
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
};
await build({ ...commonJs, entryPoints: ['dist/bootstrap/main.js'], outfile: join(fresh, 'cli.cjs') });
// A vm.Script's import() needs an experimental API in Node 20: the start passes `__import` (an
// import() of its own, beside this file) and the bundle's import() calls become calls of it.
const cli = readFileSync(join(fresh, 'cli.cjs'), 'utf8');
const dynamicImport = /(?<![\w$.])import\(/g;
writeFileSync(join(fresh, 'cli.cjs'), cli.replace(dynamicImport, '__import('));
await build({ ...commonJs, entryPoints: ['dist/bootstrap/start.js'], outfile: join(fresh, 'start.cjs') });
if (existsSync(join(dist, 'bundle'))) renameSync(join(dist, 'bundle'), old);
renameSync(fresh, join(dist, 'bundle'));
rmSync(old, { recursive: true, force: true });

// dbbackup/testing: the connector contract suite for plugin packages' own tests. Its imports of
// src/ point at the compiled modules beside it (the same ones dbbackup/plugin is), the test
// helpers it uses are inlined, and vitest comes from the plugin's own dev dependencies.
const root = fileURLToPath(new URL('..', import.meta.url));
const testing = join(dist, 'testing');
await build({
  entryPoints: ['test/contracts/database-connector-contract.ts'],
  outdir: testing,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  plugins: [
    {
      name: 'compiled-src',
      setup(b) {
        b.onResolve({ filter: /\/src\// }, (args) => {
          const file = resolve(args.resolveDir, args.path);
          const rel = relative(join(root, 'src'), file);
          return { path: relative(testing, join(dist, rel)).replace(/\\/g, '/').replace(/^(?!\.)/, './'), external: true };
        });
      },
    },
  ],
});

// The dashboard's front-end (`dbbackup ui`): vanilla TypeScript and uPlot, one app.js and one
// app.css beside index.html in dist/ui/, swapped in the same way. A browser runs it, not Node.
const uiFresh = join(dist, `.ui-${process.pid}`);
const uiOld = join(dist, `.ui-old-${process.pid}`);
await build({
  entryPoints: { app: 'src/adapters/ui/web/main.ts' },
  outdir: uiFresh,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync('src/adapters/ui/web/index.html', join(uiFresh, 'index.html'));
if (existsSync(join(dist, 'ui'))) renameSync(join(dist, 'ui'), uiOld);
renameSync(uiFresh, join(dist, 'ui'));
rmSync(uiOld, { recursive: true, force: true });
