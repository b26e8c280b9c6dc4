import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../../src/bootstrap/start.js';

describe('the code cache key (start.ts)', () => {
  it('is the command word and, when the arguments name it, the engine: each engine compiles other functions', () => {
    expect(cacheKey(['backup', '--db', 'postgres', '--url', 'postgres://u@h/db'])).toBe('backup-postgres');
    expect(cacheKey(['backup', '--db=sqlite', '--file', 'x.db'])).toBe('backup-sqlite');
    expect(cacheKey(['backup', '--url', 'postgresql://u@h/db'])).toBe('backup-postgres');
    expect(cacheKey(['restore', '--url=mysql://u@h/db'])).toBe('restore-mysql');
    expect(cacheKey(['backup', '--file', 'x.db', '--out', 'repo'])).toBe('backup-sqlite');
  });

  it('is the command word alone when no engine is named, or the name is not a plain word', () => {
    expect(cacheKey(['list', '--from', 'repo'])).toBe('list');
    expect(cacheKey(['backup', '--source', 'prod'])).toBe('backup');
    expect(cacheKey(['backup', '--db', '../../etc'])).toBe('backup');
    expect(cacheKey(['backup', '--url', 'weird://x'])).toBe('backup');
    expect(cacheKey([])).toBe('none');
  });
});
