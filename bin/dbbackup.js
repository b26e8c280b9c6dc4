#!/usr/bin/env node
import { main } from '../dist/bundle/main.js';

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
    process.exitCode = code;
  },
  (err) => {
    settled = true;
    process.stderr.write(`error E_INTERNAL: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
