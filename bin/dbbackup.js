#!/usr/bin/env node
import { createRequire } from 'node:module';

// The CLI as one CommonJS bundle run with V8's code cache (src/bootstrap/start.ts); a build
// without it (an older dist/) runs the ES module bundle.
let main;
let save = () => {};
try {
  ({ main, save } = createRequire(import.meta.url)('../dist/bundle/start.cjs').startCli(process.argv.slice(2)));
} catch (err) {
  if (err?.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('start.cjs')) throw err;
  ({ main } = await import('../dist/bundle/main.js'));
}

// If the event loop ever drains before main() settles, something awaited a stream that will
// never end: that must not look like success to a script.
let settled = false;
process.on('beforeExit', () => {
  if (!settled) {
    process.stderr.write('error E_INTERNAL: the operation stopped before it finished; rerun with --verbose and report it.\n');
    process.exit(1);
  }
});

main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    // A successful run compiled its command's own path: that is what the cache should hold.
    if (code === 0) save();
    process.exitCode = code;
  },
  (err) => {
    settled = true;
    process.stderr.write(`error E_INTERNAL: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
