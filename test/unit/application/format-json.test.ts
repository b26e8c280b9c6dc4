import { describe, expect, it } from 'vitest';
import { formatJson } from '../../../src/application/services/backup-repository.js';

describe('formatJson (manifests and markers as written)', () => {
  it('parses back to what JSON.stringify gives, with one array element per line below the second level', () => {
    const value = {
      id: 'x',
      when: new Date(Date.UTC(2026, 0, 2)),
      skipped: undefined,
      empty: [],
      none: {},
      position: { from: null, to: { pageSize: 4096, maps: ['a', 'b'] } },
      objects: [{ name: 't1', rows: 5, tags: ['q', undefined] }, { name: 'é"\n', rows: 0 }],
    };
    const text = formatJson(value);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
    expect(text.split('\n')).toContain('    {"name":"t1","rows":5,"tags":["q",null]},');
    expect(text.split('\n')).toContain('    "to": {"pageSize":4096,"maps":["a","b"]}');
    expect(text.length).toBeLessThan(JSON.stringify(value, null, 2).length);
  });
});
