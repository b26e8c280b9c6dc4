#!/usr/bin/env node
// Makes `npm test` work on a fresh machine: installs npm packages if missing, and (as root on
// Debian) the database servers the integration tests start: PostgreSQL 15, MariaDB, sqlite3, and the
// tools tests compare against (openssl, script, the zstd CLI), Chromium for the dashboard's browser tests and
// redis-server for the fleet queue.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const need = [];
if (!existsSync('/usr/lib/postgresql/15/bin/postgres')) need.push('postgresql-15');
if (!existsSync('/usr/sbin/mariadbd')) need.push('mariadb-server');
if (!existsSync('/usr/bin/sqlite3')) need.push('sqlite3');
if (!existsSync('/usr/bin/openssl')) need.push('openssl');
if (!existsSync('/usr/bin/script')) need.push('bsdutils');
if (!existsSync('/usr/bin/zstd')) need.push('zstd');
if (!existsSync('/usr/bin/chromium')) need.push('chromium');
if (!existsSync('/usr/bin/redis-server')) need.push('redis-server');
if (need.length) {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    console.error(`The tests need these Debian packages: ${need.join(' ')}. Install them (apt-get install ${need.join(' ')}) and rerun.`);
    process.exit(1);
  }
  console.log(`Installing ${need.join(' ')} …`);
  execSync('apt-get update -qq', { stdio: 'inherit' });
  execSync(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need.join(' ')}`, { stdio: 'inherit' });
}
if (!existsSync('node_modules/.package-lock.json')) execSync('npm ci', { stdio: 'inherit' });
