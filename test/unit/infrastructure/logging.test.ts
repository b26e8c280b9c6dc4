import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/infrastructure/logging.js';
import { redact, registerSecret } from '../../../src/infrastructure/redact.js';
import { RotatingFile } from '../../../src/infrastructure/rotating-file.js';
import { tempDir } from '../../helpers/temp.js';

let dir: { path: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('dbb-log-');
});
afterAll(() => dir.cleanup());

// First in the file: the tests below load pino (this file's process is its own, pool: 'forks').
describe('logger start-up cost', () => {
  it('loads pino only for the first record that passes a sink level, and still writes every passing record and child field', () => {
    const cache = createRequire(import.meta.url).cache;
    const pinoLoaded = () => Object.keys(cache).some((k) => /[\\/]node_modules[\\/]pino[\\/]pino\.js$/.test(k));
    expect(pinoLoaded()).toBe(false);
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const log = createLogger({ level: 'warn', json: true, stream: out });
    const child = log.child({ backupId: 'b2' });
    log.debug('not shown');
    child.info('not shown either');
    expect(pinoLoaded()).toBe(false);
    child.warn('shown', { n: 1 });
    log.error('also shown');
    expect(pinoLoaded()).toBe(true);
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.msg, l.backupId])).toEqual([
      ['warn', 'shown', 'b2'],
      ['error', 'also shown', undefined],
    ]);
  });
});

describe('rotating log file', () => {
  it('rotates past the size limit and keeps at most N files', () => {
    const path = join(dir.path, 'logs', 'dbbackup.log');
    const file = new RotatingFile(path, { maxBytes: 1000, maxFiles: 3, maxAgeMs: 86_400_000 });
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 55; i++) file.write(line);
    file.close();
    const names = readdirSync(join(dir.path, 'logs')).sort();
    expect(names).toEqual(['dbbackup.log', 'dbbackup.log.1', 'dbbackup.log.2', 'dbbackup.log.3']);
    for (const n of names) expect(readFileSync(join(dir.path, 'logs', n)).length).toBeLessThanOrEqual(1000);
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(5);
  });

  it('deletes rotated files older than the age limit on open', () => {
    const path = join(dir.path, 'old', 'dbbackup.log');
    new RotatingFile(path, { maxBytes: 1000, maxFiles: 5, maxAgeMs: 86_400_000 }).close();
    writeFileSync(`${path}.1`, 'recent\n');
    writeFileSync(`${path}.2`, 'ancient\n');
    const old = new Date(Date.now() - 3 * 86_400_000);
    utimesSync(`${path}.2`, old, old);
    new RotatingFile(path, { maxBytes: 1000, maxFiles: 5, maxAgeMs: 86_400_000 }).close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(false);
  });
});

describe('logger redaction', () => {
  it('censors secret keys and registered secret values in every sink', () => {
    registerSecret('pa55-w0rd!');
    const out = new PassThrough();
    let console = '';
    out.on('data', (d: Buffer) => (console += d.toString()));
    const path = join(dir.path, 'redact', 'dbbackup.log');
    const file = new RotatingFile(path, { maxBytes: 1e6, maxFiles: 2, maxAgeMs: 1e9 });
    const log = createLogger({ level: 'debug', json: true, stream: out, file, fileLevel: 'debug' });
    log.info('connecting with pa55-w0rd! to postgres://u:pa55-w0rd!@h/db', { password: 'other-secret', nested: { token: 'tok' }, url: 'mysql://root:hunter2@x/y' });
    log.child({ backupId: 'b1' }).warn('failed', { error: 'auth failed for pa55-w0rd!' });
    file.close();
    const disk = readFileSync(path, 'utf8');
    for (const text of [console, disk]) {
      expect(text).not.toContain('pa55-w0rd!');
      expect(text).not.toContain('other-secret');
      expect(text).not.toContain('"tok"');
      expect(text).not.toContain('hunter2');
      expect(text).toContain('[redacted]');
      expect(text).toContain('"backupId":"b1"');
    }
    expect(redact('postgres://app:s3cr3t@db:5432/x')).toBe('postgres://app:[redacted]@db:5432/x');
  });
});
