import { describe, expect, it } from 'vitest';
import { authOf, canonicalJson, manifestAuthBytes } from '../../../src/domain/manifest-auth.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: null }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":1}]},"b":1}');
  });
  it('is the same for the same value however its keys were ordered', () => {
    expect(canonicalJson({ a: 1, b: [1, 2] })).toBe(canonicalJson({ b: [1, 2], a: 1 }));
    expect(canonicalJson({ a: 1, b: [1, 2] })).not.toBe(canonicalJson({ a: 1, b: [2, 1] }));
  });
});

describe('manifestAuthBytes', () => {
  it('covers everything but auth, with a domain label', () => {
    const m = { id: 'x', parent: 'p', auth: { mac: { alg: 'hmac-sha256', key: 'data-key', value: 'ab' } } };
    expect(manifestAuthBytes(m).toString()).toBe('dbbackup manifest v1\n{"id":"x","parent":"p"}');
    expect(manifestAuthBytes({ ...m, parent: 'q' }).equals(manifestAuthBytes(m))).toBe(false);
  });
  it('authOf keeps only well-formed entries', () => {
    expect(authOf({ auth: { mac: { alg: 'md5', key: 'data-key', value: 'x' } } })).toEqual({});
    expect(authOf({ auth: 'x' })).toBeUndefined();
    expect(authOf({ auth: { signature: { alg: 'ed25519', keyId: 'k', value: 's' } } })).toEqual({ signature: { alg: 'ed25519', keyId: 'k', value: 's' } });
  });
});
