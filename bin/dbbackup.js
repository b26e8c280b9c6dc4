#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json says so): Node then starts the CLI without setting up its ES module
// loader, a few milliseconds of every run. The CLI is one CommonJS bundle run with V8's code
// cache (src/bootstrap/start.ts); a build without it (an older dist/) runs the ES module bundle.
let start;
try {
  start = require('../dist/bundle/start.cjs');
} catch (err) {
  if (err?.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('start.cjs')) throw err;
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

function run({ main, save }) {
  return main(process.argv.slice(2)).then(
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
}

if (start) run(start.startCli(process.argv.slice(2)));
else import('../dist/bundle/main.js').then(({ main }) => run({ main, save: () => {} }));
