/**
 * Test-only preload (`NODE_OPTIONS=--import=<this file>`): host names ending in `.remote.test`
 * (a reserved TLD) resolve to 127.0.0.1 without asking any DNS server, so a CLI child connects to
 * the test servers on loopback while dbbackup still sees a host name that is not loopback.
 * net.connect (which pg and mysql2 use) calls `dns.lookup` from the `node:dns` exports object at
 * connect time (with `all: true` under autoSelectFamily), so replacing that property takes effect.
 * Every other name goes to the real lookup unchanged.
 */
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';

const SUFFIX = '.remote.test';
const ADDRESS = '127.0.0.1';

const isFake = (hostname) => typeof hostname === 'string' && hostname.toLowerCase().replace(/\.$/, '').endsWith(SUFFIX);
const answer = (options) => {
  const all = typeof options === 'object' && options !== null && options.all === true;
  return all ? [{ address: ADDRESS, family: 4 }] : { address: ADDRESS, family: 4 };
};

const realLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (!isFake(hostname)) return realLookup.apply(this, arguments);
  const done = typeof options === 'function' ? options : callback;
  const result = answer(options);
  process.nextTick(() => (Array.isArray(result) ? done(null, result) : done(null, result.address, result.family)));
  return {};
};

const realPromisesLookup = dns.promises.lookup;
dns.promises.lookup = function lookup(hostname, options) {
  if (!isFake(hostname)) return realPromisesLookup.apply(this, arguments);
  return Promise.resolve(answer(options));
};

// `import { lookup } from 'node:dns'` in later modules sees the replacement too.
syncBuiltinESMExports();
