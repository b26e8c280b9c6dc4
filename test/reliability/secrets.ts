// Secrets canary: a passphrase, a source password and a webhook secret, each a unique canary, go
// through backup, list, restore (right and wrong key: a restore verifies first) and config show. Afterwards no file
// the runs left (logs, catalog, manifests, parts, temp files), no output and no notification body
// may hold any of them, in plain text, URL-encoded or base64.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from './cli-watch.js';
import { startRecorder } from '../helpers/http-recorder.js';
import { createNastyDatabase } from '../helpers/sqlite-fixtures.js';

export async function secretsCanary(dir: string): Promise<{ what: string; problems: string[]; runs: number }> {
  const canaries = {
    passphrase: `canary-pass-${process.pid}-Qx9zK2w`,
    password: `canary-dbpw-${process.pid}-M3v8`,
    hook: `canary-hook-${process.pid}-P5r2`,
  };
  const forms = Object.entries(canaries).flatMap(([name, v]) => [
    [name, v],
    [`${name} (base64)`, Buffer.from(v).toString('base64')],
    [`${name} (url-encoded)`, encodeURIComponent(v)],
  ]);
  const hook = await startRecorder();
  const problems: string[] = [];
  const outputs: string[] = [];
  let runs = 0;
  try {
    const db = join(dir, 'app.db');
    createNastyDatabase(db);
    const config = join(dir, 'dbbackup.yaml');
    await writeFile(
      config,
      `sources:\n  app: { engine: sqlite, database: ${db}, password: "\${SRC_PW}" }\ntargets:\n  disk: { url: ${join(dir, 'repo')} }\n` +
        `notifications:\n  - { type: webhook, url: "${hook.url}/hook", on: [success, failure], secret: "\${HOOK_SECRET}" }\n`,
    );
    const env = {
      DBBACKUP_DATA_DIR: join(dir, 'data'),
      XDG_STATE_HOME: join(dir, 'state'),
      TMPDIR: dir,
      PASS: canaries.passphrase,
      WRONG: 'not the passphrase at all',
      SRC_PW: canaries.password,
      HOOK_SECRET: canaries.hook,
    };
    const cli = async (...args: string[]) => {
      const r = await runCli(['--config', config, ...args], { env, cwd: dir });
      runs++;
      outputs.push(`$ ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    const b = await cli('backup', '--source', 'app', '--encrypt', '--passphrase-env', 'PASS', '--json', '--verbose');
    if (b.code !== 0) problems.push(`the canary backup failed (${b.code}): ${b.stderr.slice(0, 300)}`);
    await cli('list', '--json', '--verbose');
    await cli('list', '--from', join(dir, 'repo'), '--verbose');
    await cli('restore', '--from', join(dir, 'repo'), '--database', join(dir, 'restored.db'), '--passphrase-env', 'PASS', '--verbose');
    const wrong = await cli('restore', '--from', join(dir, 'repo'), '--database', join(dir, 'wrong.db'), '--passphrase-env', 'WRONG', '--verbose', '--json');
    if (wrong.code !== 4) problems.push(`a restore with a wrong passphrase exited ${wrong.code}, not 4`);
    await cli('config', 'show', '--origin', '--json');
    if (hook.requests.length === 0) problems.push('no notification was sent: the webhook secret was never exercised');
    const places: [string, string][] = [
      ...outputs.map((o, i): [string, string] => [`output of run ${i + 1}`, o]),
      ...hook.requests.map((r, i): [string, string] => [`notification ${i + 1}`, `${r.path}\n${JSON.stringify(r.headers)}\n${r.body}`]),
    ];
    for (const name of (await readdir(dir, { recursive: true })).map(String)) {
      const path = join(dir, name);
      if (path === config || !(await stat(path)).isFile()) continue;
      places.push([path, (await readFile(path)).toString('latin1')]);
    }
    for (const [where, text] of places) {
      for (const [name, value] of forms) if (text.includes(value!)) problems.push(`the ${name} canary is in ${where}`);
    }
  } finally {
    await hook.close();
  }
  return { what: `canaries through ${runs} CLI runs`, problems, runs };
}
