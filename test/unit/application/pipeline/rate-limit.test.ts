import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import type { PartSink } from '../../../../src/application/ports/parts.js';
import { RateLimiter, rateLimited, rateLimitedSink, type RateTimer } from '../../../../src/application/pipeline/rate-limit.js';
import { Settings } from '../../../../src/infrastructure/config/settings.js';
import { loadConfig } from '../../../../src/infrastructure/config/load-config.js';

/** A clock that only moves when someone sleeps: the limiter's schedule, free of the machine's load. */
function fakeTimer(): RateTimer & { t: number; slept: number[] } {
  const timer = {
    t: 0,
    slept: [] as number[],
    now: () => timer.t,
    sleep: async (ms: number) => {
      timer.slept.push(ms);
      timer.t += ms;
    },
  };
  return timer;
}

const signal = new AbortController().signal;

describe('RateLimiter', () => {
  it('holds one reader to its rate, after a first burst of a quarter second', async () => {
    const timer = fakeTimer();
    const limiter = new RateLimiter(1000, timer);
    for (let i = 0; i < 100; i++) await limiter.take(100, signal);
    // 10,000 bytes at 1,000 B/s: 10 s, less the 250 bytes of credit an idle start has.
    expect(timer.t).toBeCloseTo(9750, 6);
    expect(timer.slept[0]).toBe(50);
  });

  it('shares one rate among concurrent readers, and passes every byte on unchanged', async () => {
    const timer = fakeTimer();
    const limiter = new RateLimiter(2000, timer);
    const chunks = (tag: string) => Readable.from(Array.from({ length: 50 }, (_, i) => Buffer.from(`${tag}${String(i).padStart(99, '.')}`)));
    const read = async (tag: string) => {
      let out = '';
      for await (const c of rateLimited(chunks(tag), limiter, signal)) out += c.toString();
      return out;
    };
    const [a, b] = await Promise.all([read('a'), read('b')]);
    expect(a.length).toBe(5000);
    expect(b.length).toBe(5000);
    expect(a.startsWith(`a${'.'.repeat(98)}0`)).toBe(true);
    // 10,000 bytes at 2,000 B/s in all: 5 s, less 500 bytes of first credit.
    expect(timer.t).toBeCloseTo(4750, 6);
  });

  it('gives a part written through the sink its bytes unchanged, paced', async () => {
    const timer = fakeTimer();
    const got: string[] = [];
    const sink: PartSink = {
      write: async (spec, body) => {
        got.push(await text(body));
        return { name: spec.name, role: spec.role, codecs: [], rawSize: 0, storedSize: 0, sha256: '' };
      },
    };
    const limited = rateLimitedSink(sink, new RateLimiter(100, timer), signal);
    await limited.write({ name: 'p', role: 'data' }, Readable.from([Buffer.from('x'.repeat(300)), Buffer.from('y'.repeat(300))]));
    expect(got).toEqual(['x'.repeat(300) + 'y'.repeat(300)]);
    expect(timer.t).toBeCloseTo(5750, 6);
  });

  it('stops waiting when the backup is aborted', async () => {
    const abort = new AbortController();
    const limiter = new RateLimiter(1);
    const waiting = limiter.take(1_000_000, abort.signal);
    abort.abort(new Error('interrupted'));
    await expect(waiting).rejects.toThrow('interrupted');
  });

  it('is set by --max-rate, DBBACKUP_MAX_RATE or max-rate in the config, unlimited by default', async () => {
    const none = new Settings(await loadConfig({ env: {} }), {});
    expect(none.maxRate(undefined).value).toBeUndefined();
    expect(none.maxRate('20MB').value).toBe(20e6);
    expect(none.maxRate('1MiB').value).toBe(1024 ** 2);
    expect(none.maxRate('0').value).toBeUndefined();
    expect(() => none.maxRate('fast')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    const env = new Settings(await loadConfig({ env: {} }), { DBBACKUP_MAX_RATE: '5MB' });
    expect(env.maxRate(undefined)).toEqual({ value: 5e6, origin: 'env DBBACKUP_MAX_RATE' });
  });
});
