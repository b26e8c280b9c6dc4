import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { type MariaDbServer, startMariaDb } from '../helpers/mariadb-server.js';
import { runOnTerminal } from '../helpers/terminal.js';
import { tempDir } from '../helpers/temp.js';

/**
 * The MySQL password prompt (issue 22's connector gap), as PostgreSQL has it: the built CLI (`npm
 * run build` first) on a pseudo-terminal, no password from any source, against a real MariaDB
 * whose account needs one. Asked once for the whole run (a backup opens several connections), not
 * echoed; without a terminal the login fails with E_AUTH and says how to give the password.
 */
const PASSWORD = 'Pr0mpt-my$ql-s3cret';
let server: MariaDbServer;
let dir: Awaited<ReturnType<typeof tempDir>>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startMariaDb();
  dir = await tempDir('mysql-prompt-');
  env = { ...process.env, DBBACKUP_DATA_DIR: join(dir.path, 'data') };
  delete env.MYSQL_PWD;
  await server.query(`
    CREATE DATABASE shop; CREATE TABLE shop.a (id INT PRIMARY KEY); INSERT INTO shop.a VALUES (1), (2);
    CREATE TABLE shop.b (id INT PRIMARY KEY); INSERT INTO shop.b VALUES (3);
    CREATE USER pw_user@'127.0.0.1' IDENTIFIED BY '${PASSWORD}';
    GRANT ALL PRIVILEGES ON *.* TO pw_user@'127.0.0.1';`);
});

afterAll(async () => {
  await server?.stop();
  await dir?.cleanup();
});

function backupArgs(out: string): string[] {
  return ['backup', '--db', 'mysql', '--host', '127.0.0.1', '--port', String(server.port), '--user', 'pw_user', '--database', 'shop', '--out', out, '--parallel', '2'];
}

async function manifests(out: string): Promise<number> {
  let n = 0;
  for (const id of await readdir(join(dir.path, out, 'shop')).catch(() => [] as string[])) {
    if (await stat(join(dir.path, out, 'shop', id, 'manifest.json')).then(() => true, () => false)) n++;
  }
  return n;
}

describe('MySQL password prompt on a terminal', () => {
  it('asks once, does not echo the password, and the backup succeeds', async () => {
    const prompt = new RegExp(`Password for pw_user@127\\.0\\.0\\.1:${server.port}: `);
    const r = await runOnTerminal([process.execPath, BIN, ...backupArgs('prompted')], { cwd: dir.path, env }, prompt, `${PASSWORD}\r`);
    expect(r.code, r.output).toBe(0);
    expect(r.output.match(/Password for /g)).toHaveLength(1);
    expect(r.output).not.toContain(PASSWORD);
    expect(await manifests('prompted')).toBe(1);
  });

  it('a wrong password at the prompt fails with exit 3 and is not shown', async () => {
    const r = await runOnTerminal([process.execPath, BIN, ...backupArgs('prompted-bad')], { cwd: dir.path, env }, /Password for /, 'wrong-pass-123\r');
    expect(r.code, r.output).toBe(3);
    expect(r.output).toMatch(/error E_AUTH: MySQL refused the login pw_user@127\.0\.0\.1/);
    expect(r.output).not.toContain('wrong-pass-123');
    expect(await manifests('prompted-bad')).toBe(0);
  });

  it('without a terminal: E_AUTH (exit 3) naming the ways to give the password, no prompt', async () => {
    const r = await runCli(backupArgs(join(dir.path, 'no-tty')), { env });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^error E_AUTH: .*--password-env VAR or MYSQL_PWD, or run in a terminal to be prompted/);
    expect(r.stderr).not.toMatch(/Password for/);
  });
});
