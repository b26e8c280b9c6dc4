import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { contentHashes, createNastyDatabase } from '../helpers/sqlite-fixtures.js';
import { tempDir } from '../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
let env: NodeJS.ProcessEnv;
let db: string;

beforeAll(async () => {
  dir = await tempDir('dbb-prof-');
  env = { DBBACKUP_DATA_DIR: join(dir.path, 'data'), XDG_STATE_HOME: join(dir.path, 'state'), PROFILE_PW: 'correct horse battery staple' };
  db = join(dir.path, 'app.db');
  createNastyDatabase(db);
});

afterAll(async () => {
  await dir.cleanup();
});

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { env: { ...env, ...extra }, cwd: dir.path });

interface Row {
  stage: string;
  busyMs: number;
  waitMs: number;
  bytes: number;
  calls: number;
}

/** The rows of the table `--profile-stages` prints on stderr. */
function parseTable(stderr: string): { wallMs: number; stages: Row[] } {
  const lines = stderr.split('\n');
  const title = lines.findIndex((l) => l.startsWith('stage profile of '));
  expect(title).toBeGreaterThanOrEqual(0);
  const wallMs = Number(/: ([\d.]+) s wall/.exec(lines[title]!)![1]) * 1000;
  expect(lines[title + 1]).toMatch(/^main thread busy [\d.]+ s, process CPU [\d.]+ s$/);
  lines.splice(title + 1, 1);
  expect(lines[title + 1]).toMatch(/^stage\s+busy s\s+wait s\s+MB\s+MB\/s\s+calls$/);
  const stages: Row[] = [];
  for (const line of lines.slice(title + 2)) {
    if (!line.trim()) break;
    const [stage, busy, wait, mb, , calls] = line.trim().split(/\s+/);
    stages.push({ stage: stage!, busyMs: Number(busy) * 1000, waitMs: Number(wait) * 1000, bytes: Number(mb) * 1e6, calls: Number(calls) });
  }
  return { wallMs, stages };
}

/** Every stage's figures are finite and non-negative, and no stage was busy longer than the run could hold. */
function expectSensible(report: { wallMs: number; stages: Row[] }): void {
  expect(report.wallMs).toBeGreaterThan(0);
  for (const s of report.stages) {
    for (const v of [s.busyMs, s.waitMs, s.bytes, s.calls]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
    }
    // Parts go one at a time here (--parallel 1) and the checks' pre-pass reads no part through the
    // pipeline, so a stage's time cannot exceed the whole run's (rounding aside).
    expect(s.busyMs + s.waitMs).toBeLessThanOrEqual(report.wallMs + 5);
  }
}

describe('--profile-stages', () => {
  it('breaks an encrypted SQLite backup and its restore into every stage, as a table and as JSON', async () => {
    const b = await cli(['backup', '--db', 'sqlite', '--file', db, '--out', 'repo', '--encrypt', '--passphrase-env', 'PROFILE_PW', '--parallel', '1', '--profile-stages']);
    expect(b.code).toBe(0);
    const backup = parseTable(b.stderr);
    expect(backup.stages.map((s) => s.stage)).toEqual(['server-read', 'parse', 'hash-raw', 'compress', 'encrypt', 'hash-stored', 'store-write']);
    expectSensible(backup);
    const at = Object.fromEntries(backup.stages.map((s) => [s.stage, s]));
    // Every raw byte read goes through hashing and compression; every stored byte is hashed and written.
    expect(at['hash-raw']!.bytes).toBe(at['server-read']!.bytes);
    expect(at['compress']!.bytes).toBe(at['server-read']!.bytes);
    expect(at['hash-stored']!.bytes).toBe(at['store-write']!.bytes);
    expect(at['server-read']!.bytes).toBeGreaterThanOrEqual((await stat(db)).size - 1e5);

    const r = await cli(['restore', '--from', 'repo', '--backup', 'latest', '--db', 'sqlite', '--database', 'restored.db', '--passphrase-env', 'PROFILE_PW', '--parallel', '1', '--profile-stages=restore-profile.json']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('stage profile');
    const path = join(dir.path, 'restore-profile.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const restore = JSON.parse(await readFile(path, 'utf8')) as { command: string; wallMs: number; mainThreadBusyMs: number; processCpuMs: number; stages: Row[] };
    expect(restore.command).toBe('restore');
    expect(restore.mainThreadBusyMs).toBeGreaterThanOrEqual(0);
    expect(restore.mainThreadBusyMs).toBeLessThanOrEqual(restore.wallMs + 5);
    expect(restore.processCpuMs).toBeGreaterThan(0);
    expect(restore.stages.map((s) => s.stage)).toEqual(['store-read', 'verify-stored', 'decrypt', 'decompress', 'verify-raw', 'server-load']);
    expectSensible(restore);
    const got = Object.fromEntries(restore.stages.map((s) => [s.stage, s]));
    expect(got['store-read']!.bytes).toBe(got['verify-stored']!.bytes);
    expect(got['verify-raw']!.bytes).toBe(got['server-load']!.bytes);
    expect(Math.abs(got['verify-raw']!.bytes - at['server-read']!.bytes)).toBeLessThan(1e5);
    expect(contentHashes(join(dir.path, 'restored.db'))).toEqual(contentHashes(db));
  });

  it('is on with DBBACKUP_STAGE_PROFILE=1 and prints nothing without it', async () => {
    const on = await cli(['backup', '--db', 'sqlite', '--file', db, '--out', 'repo2'], { DBBACKUP_STAGE_PROFILE: '1' });
    expect(on.code).toBe(0);
    expect(parseTable(on.stderr).stages.map((s) => s.stage)).toContain('compress');
    const off = await cli(['backup', '--db', 'sqlite', '--file', db, '--out', 'repo2']);
    expect(off.code).toBe(0);
    expect(off.stderr).toBe('');
  });
});
