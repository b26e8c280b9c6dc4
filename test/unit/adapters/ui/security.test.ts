import { describe, expect, it } from 'vitest';
import { allowedHosts, hashPassword, isLoopback, parseListen, parsePasswordHash, SessionGate } from '../../../../src/adapters/ui/security.js';

describe('dashboard security', () => {
  it('parses --listen and knows loopback addresses', () => {
    expect(parseListen('127.0.0.1:8787')).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseListen('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(() => parseListen('host:99999')).toThrow(/--listen takes HOST:PORT/);
    expect([isLoopback('127.0.0.1'), isLoopback('127.1.2.3'), isLoopback('::1'), isLoopback('localhost')]).toEqual([true, true, true, true]);
    expect([isLoopback('0.0.0.0'), isLoopback('::'), isLoopback('10.0.0.1'), isLoopback('128.0.0.1')]).toEqual([false, false, false, false]);
    expect([...allowedHosts({ host: '127.0.0.1', port: 8787 })].sort()).toEqual(['127.0.0.1:8787', '[::1]:8787', 'localhost:8787']);
  });

  it('opens a session for the token only, and each session has its own CSRF token', async () => {
    const gate = new SessionGate({ token: 'the-right-token-123' });
    expect(await gate.login({ token: 'the-wrong-token-12' })).toBeUndefined();
    expect(await gate.login({ password: 'the-right-token-123' })).toBeUndefined();
    const a = await gate.login({ token: 'the-right-token-123' });
    const b = await gate.login({ token: 'the-right-token-123' });
    expect(a && b && a.id !== b.id && a.csrf !== b.csrf).toBe(true);
    expect(gate.session(a!.id)).toEqual(a);
    expect(gate.session('forged')).toBeUndefined();
    gate.logout(a!.id);
    expect(gate.session(a!.id)).toBeUndefined();
  });

  it('ends sessions after 12 hours and refuses logins after 20 failures in a minute', async () => {
    let now = 0;
    const gate = new SessionGate({ token: 'the-right-token-123' }, () => now);
    const s = await gate.login({ token: 'the-right-token-123' });
    now = 12 * 3600_000 + 1;
    expect(gate.session(s!.id)).toBeUndefined();
    for (let i = 0; i < 21; i++) await gate.login({ token: 'guess' });
    expect(await gate.login({ token: 'the-right-token-123' })).toBeUndefined();
    now += 60_001;
    expect(await gate.login({ token: 'the-right-token-123' })).toBeDefined();
  });

  it('keeps only a salted scrypt hash of a password', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(hash).not.toContain('correct');
    expect(await hashPassword('correct horse battery')).not.toBe(hash);
    const gate = new SessionGate({ passwordHash: hash });
    expect(await gate.login({ password: 'correct horse batterY' })).toBeUndefined();
    expect(await gate.login({ password: 'correct horse battery' })).toBeDefined();
    await expect(hashPassword('short')).rejects.toThrow(/at least 8 characters/);
    expect(() => parsePasswordHash('scrypt$1$2$3$abc$def')).toThrow(/not one `dbbackup ui --hash-password` wrote/);
  });
});
