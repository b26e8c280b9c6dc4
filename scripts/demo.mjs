#!/usr/bin/env node
// A zero-configuration tour: make a small SQLite database, back it up, list, verify, restore,
// and check the restored copy is identical. Runs the real CLI; files go to ./demo/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const root = fileURLToPath(new URL('..', import.meta.url));
const work = resolve(root, 'demo');
const bin = join(root, 'bin', 'dbbackup.js');

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const dbPath = join(work, 'shop.db');
const db = new Database(dbPath);
db.exec(`
  CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
  CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total NUMERIC, note TEXT);
  CREATE INDEX orders_customer ON orders(customer_id);
  CREATE VIEW order_totals AS SELECT c.name, sum(o.total) AS spent FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id;
`);
const addCustomer = db.prepare('INSERT INTO customers (name, email) VALUES (?, ?)');
const addOrder = db.prepare('INSERT INTO orders (customer_id, total, note) VALUES (?, ?, ?)');
db.transaction(() => {
  for (let i = 1; i <= 1000; i++) addCustomer.run(`Customer ${i} ✓`, `c${i}@example.test`);
  for (let i = 1; i <= 20000; i++) addOrder.run(1 + (i % 1000), (i % 997) / 10, i % 5 === 0 ? null : `order #${i}\twith tab`);
})();
db.close();

function run(args) {
  console.log(`\n$ dbbackup ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\ndemo: "dbbackup ${args[0]}" exited ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

run(['backup', '--db', 'sqlite', '--file', 'shop.db', '--out', './backups']);
run(['backup', '--file', 'shop.db', '--out', 'shop-backup.tar.gz']);
run(['list', '--from', './backups']);
run(['verify', '--from', './backups', 'latest']);
run(['restore', '--from', './backups', '--db', 'sqlite', '--file', 'restored.db', '--dry-run']);
run(['restore', '--from', './backups', '--db', 'sqlite', '--file', 'restored.db']);
run(['restore', '--file', 'shop-backup.tar.gz', '--db', 'sqlite', '--database', 'from-archive.db']);

const count = (file, table) => {
  const d = new Database(join(work, file), { readonly: true });
  const n = d.prepare(`SELECT count(*) AS n, total(${table === 'orders' ? 'total' : 'id'}) AS s FROM ${table}`).get();
  d.close();
  return `${n.n}/${n.s}`;
};
for (const file of ['restored.db', 'from-archive.db']) {
  for (const table of ['customers', 'orders']) {
    if (count('shop.db', table) !== count(file, table)) {
      console.error(`demo: ${file} differs from shop.db in ${table}`);
      process.exit(1);
    }
  }
}
console.log('\ndemo: both restored databases match shop.db. Files are in ./demo/.');
