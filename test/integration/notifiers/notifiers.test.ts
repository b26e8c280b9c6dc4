import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutcomeEvent } from '../../../src/application/ports/notifier.js';
import { notifyAll } from '../../../src/application/services/notify.js';
import { SlackNotifier } from '../../../src/adapters/notifiers/slack-notifier.js';
import { WebhookNotifier } from '../../../src/adapters/notifiers/webhook-notifier.js';
import { DrizzleBackupCatalog } from '../../../src/adapters/catalog/drizzle-backup-catalog.js';
import { silentLogger } from '../../helpers/fakes.js';
import { tempDir } from '../../helpers/temp.js';
import { startRecorder } from '../../helpers/http-recorder.js';

const event = (outcome: OutcomeEvent['outcome'], extra: Partial<OutcomeEvent> = {}): OutcomeEvent => ({
  outcome,
  task: 'backup',
  source: 'main',
  kind: 'full',
  backupId: '20261125T020000Z-full-abcd',
  storedSize: 1234567,
  durationMs: 4200,
  at: '2026-11-25T02:00:05.000Z',
  host: 'db-host',
  ...extra,
});

const base = { on: ['success', 'failure', 'partial'] as OutcomeEvent['outcome'][], timeoutMs: 2000, retries: 3, throttleMs: 0 };

describe('webhook notifier', () => {
  it('POSTs the documented JSON payload with an HMAC-SHA256 signature and custom headers', async () => {
    const server = await startRecorder();
    try {
      const n = new WebhookNotifier({ ...base, url: `${server.url}/hook`, secret: 'k3y', headers: { 'x-team': 'ops' } });
      await n.send(event('failure', { error: { code: 'E_CONN_REFUSED', message: 'db1:5432 refused' } }));
      const [req] = server.requests;
      const payload = JSON.parse(req!.body) as Record<string, unknown>;
      expect(payload).toMatchObject({ version: 1, outcome: 'failure', task: 'backup', source: 'main', error: { code: 'E_CONN_REFUSED' } });
      expect(req!.headers['content-type']).toBe('application/json');
      expect(req!.headers['x-team']).toBe('ops');
      const ts = req!.headers['x-dbbackup-timestamp'] as string;
      expect(ts).toBe(String(Date.parse('2026-11-25T02:00:05.000Z') / 1000));
      const expected = createHmac('sha256', 'k3y').update(`${ts}.${req!.body}`).digest('hex');
      expect(req!.headers['x-dbbackup-signature']).toBe(`sha256=${expected}`);
    } finally {
      await server.close();
    }
  });

  it('retries after a 500 and succeeds', async () => {
    const server = await startRecorder((n) => (n < 2 ? 500 : 200));
    try {
      await new WebhookNotifier({ ...base, url: server.url }).send(event('success'));
      expect(server.requests).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  it('gives up after its retries and on a 4xx at once, with a message that hides the URL path', async () => {
    const server = await startRecorder(() => 500);
    try {
      const err = (await new WebhookNotifier({ ...base, retries: 1, url: `${server.url}/secret-token-path` }).send(event('success')).catch((e: Error) => e)) as Error;
      expect(err.message).toMatch(/HTTP 500/);
      expect(err.message).not.toContain('secret-token-path');
      expect(server.requests).toHaveLength(2);
    } finally {
      await server.close();
    }
    const four = await startRecorder(() => 404);
    try {
      await expect(new WebhookNotifier({ ...base, url: four.url }).send(event('success'))).rejects.toThrow(/HTTP 404/);
      expect(four.requests).toHaveLength(1);
    } finally {
      await four.close();
    }
  });

  it('times out a server that never answers', async () => {
    const server = await startRecorder(() => 'hang');
    try {
      await expect(new WebhookNotifier({ ...base, retries: 0, timeoutMs: 300, url: server.url }).send(event('success'))).rejects.toThrow(/no answer within 300 ms/);
      // One try, abandoned by the timeout (not by the server, which never answers).
      expect(server.requests).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('slack notifier', () => {
  it('sends readable success, failure and partial messages', async () => {
    const server = await startRecorder();
    try {
      const n = new SlackNotifier({ ...base, url: server.url });
      await n.send(event('success'));
      await n.send(event('failure', { error: { code: 'E_AUTH', message: 'password authentication failed' } }));
      await n.send(event('partial', { targets: [{ repository: '/srv/a', ok: true }, { repository: 's3://b/x', ok: false, error: 'E_STORAGE' }] }));
      const texts = server.requests.map((r) => (JSON.parse(r.body) as { text: string }).text);
      expect(texts[0]).toMatch(/white_check_mark.*main.*succeeded on db-host/);
      expect(texts[0]).toContain('size: 1.2 MiB');
      expect(texts[1]).toMatch(/:x:.*FAILED/);
      expect(texts[1]).toContain('E_AUTH: password authentication failed');
      expect(texts[2]).toMatch(/:warning:.*partly failed/);
      expect(texts[2]).toContain('FAILED → s3://b/x (E_STORAGE)');
    } finally {
      await server.close();
    }
  });
});

describe('notifyAll', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    dir = await tempDir('dbb-notify-');
  });
  afterAll(() => dir.cleanup());

  it('filters by outcome, throttles repeats, and never throws for a failing channel', async () => {
    const ok = await startRecorder();
    const broken = await startRecorder(() => 500);
    try {
      const failuresOnly = new WebhookNotifier({ ...base, on: ['failure'], throttleMs: 3_600_000, url: ok.url });
      const down = new WebhookNotifier({ ...base, retries: 0, url: broken.url });
      // The real catalog's claim (a row per key in SQLite), reopened between runs as separate CLI runs would.
      const file = join(dir.path, 'catalog.db');
      let throttle = new DrizzleBackupCatalog(file);
      const reopen = () => {
        throttle.close();
        throttle = new DrizzleBackupCatalog(file);
      };
      const deps = (t: string) => ({ logger: silentLogger, throttle, now: new Date(t) });
      try {
        const r1 = await notifyAll([failuresOnly, down], event('success'), deps('2026-11-25T02:00:00Z'));
        expect(r1.sent).toEqual([]);
        expect(r1.failed).toEqual([down.name]);
        expect(ok.requests).toHaveLength(0);
        const r2 = await notifyAll([failuresOnly], event('failure', { error: { code: 'E_X', message: 'x' } }), deps('2026-11-25T02:00:00Z'));
        expect(r2.sent).toEqual([failuresOnly.name]);
        reopen();
        const r3 = await notifyAll([failuresOnly], event('failure', { error: { code: 'E_X', message: 'x' } }), deps('2026-11-25T02:30:00Z'));
        expect(r3.throttled).toEqual([failuresOnly.name]);
        expect(ok.requests).toHaveLength(1);
        reopen();
        const r4 = await notifyAll([failuresOnly], event('failure', { error: { code: 'E_X', message: 'x' } }), deps('2026-11-25T03:30:00Z'));
        expect(r4.sent).toEqual([failuresOnly.name]);
        expect(ok.requests).toHaveLength(2);
      } finally {
        throttle.close();
      }
    } finally {
      await ok.close();
      await broken.close();
    }
  });
});
