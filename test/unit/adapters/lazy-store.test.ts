import { describe, expect, it } from 'vitest';
import { lazyStore } from '../../../src/adapters/catalog/lazy.js';

interface Store {
  get(key: string): Promise<string>;
  close(): void;
}

describe('lazyStore', () => {
  it('loads on the first call only, and close() before any call loads nothing', async () => {
    let loads = 0;
    let closed = 0;
    const make = () =>
      lazyStore<Store>(async () => {
        loads++;
        return { get: async (k) => `v:${k}`, close: () => void closed++ };
      });
    const unused = make();
    unused.close();
    expect([loads, closed]).toEqual([0, 0]);
    const store = make();
    expect(await Promise.all([store.get('a'), store.get('b')])).toEqual(['v:a', 'v:b']);
    store.close();
    expect([loads, closed]).toEqual([1, 1]);
  });

  it('tries again after a failed load (a busy catalog) instead of failing forever', async () => {
    let attempts = 0;
    const store = lazyStore<Store>(async () => {
      if (++attempts === 1) throw new Error('database is locked');
      return { get: async () => 'ok', close: () => undefined };
    });
    await expect(store.get('x')).rejects.toThrow('database is locked');
    expect(await store.get('x')).toBe('ok');
    expect(attempts).toBe(2);
  });
});
