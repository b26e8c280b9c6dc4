import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkedAesGcm } from '../../../src/adapters/encryption/chunked-aead.js';
import { AgeKey, KeyFileKey, PassphraseKey } from '../../../src/adapters/encryption/key-encryption-keys.js';
import { tempDir } from '../../helpers/temp.js';

const CHUNK = 1024;
const cipher = new ChunkedAesGcm(CHUNK);
const key = randomBytes(32);

async function collect(source: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(source, new Writable({ write: (c, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks);
}

/** Feeds `input` in awkward slices, so chunk boundaries never line up with writes. */
function slices(input: Buffer, size = 333): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) parts.push(input.subarray(i, i + size));
  return Readable.from(parts);
}

const encrypt = (plain: Buffer, context = 'Part a of backup b') => collect(slices(plain).pipe(cipher.encryptor(key, 'k1', context)));
const decrypt = (sealed: Buffer, context = 'Part a of backup b', k = key) => collect(slices(sealed, 777).pipe(cipher.decryptor(k, 'k1', context)));

describe('chunked AES-256-GCM', () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK]) {
    it(`round-trips ${size} bytes`, async () => {
      const plain = randomBytes(size);
      const sealed = await encrypt(plain);
      expect((await decrypt(sealed)).equals(plain)).toBe(true);
    });
  }

  it('round-trips 100 MB with the default 64 KiB chunks in constant memory', async () => {
    const big = new ChunkedAesGcm();
    const block = randomBytes(1 << 20);
    let seen = 0;
    const source = Readable.from((function* () { for (let i = 0; i < 100; i++) yield block; })());
    const check = new Writable({
      write(c: Buffer, _e, cb) {
        for (let i = 0; i < c.length; i += 4096) expect(c[i]).toBe(block[(seen + i) % block.length]);
        seen += c.length;
        cb();
      },
    });
    await pipeline(source, big.encryptor(key, 'k1', 'ctx'), big.decryptor(key, 'k1', 'ctx'), check);
    expect(seen).toBe(100 << 20);
  });

  it('detects every single-byte flip', async () => {
    const sealed = await encrypt(randomBytes(3 * CHUNK + 100));
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] ^= 0x01;
      await expect(decrypt(bad), `flip at ${i}`).rejects.toMatchObject({ code: 'E_DECRYPT' });
    }
  });

  it('detects truncation at every chunk boundary and anywhere else', async () => {
    const sealed = await encrypt(randomBytes(4 * CHUNK));
    const header = sealed.length - 5 * (CHUNK + 16) + CHUNK;
    const cuts = new Set<number>();
    for (let i = 0; i <= 4; i++) cuts.add(header + i * (CHUNK + 16));
    for (let i = 0; i < 40; i++) cuts.add(Math.floor(Math.random() * sealed.length));
    cuts.delete(sealed.length);
    for (const cut of cuts) await expect(decrypt(sealed.subarray(0, cut)), `cut at ${cut}`).rejects.toMatchObject({ code: 'E_DECRYPT' });
  });

  it('detects swapped chunks, and a part moved to another part or backup', async () => {
    const plain = randomBytes(3 * CHUNK);
    const sealed = await encrypt(plain);
    const headerLength = sealed.length - 3 * (CHUNK + 16) - 16;
    const c = (i: number) => sealed.subarray(headerLength + i * (CHUNK + 16), headerLength + (i + 1) * (CHUNK + 16));
    const swapped = Buffer.concat([sealed.subarray(0, headerLength), c(1), c(0), c(2), sealed.subarray(headerLength + 3 * (CHUNK + 16))]);
    expect(swapped.length).toBe(sealed.length);
    await expect(decrypt(swapped)).rejects.toMatchObject({ code: 'E_DECRYPT' });
    await expect(decrypt(sealed, 'Part z of backup b')).rejects.toMatchObject({ code: 'E_DECRYPT' });
    // A chunk spliced in from another part (same key, same position) fails too.
    const other = await encrypt(randomBytes(3 * CHUNK));
    const spliced = Buffer.concat([sealed.subarray(0, headerLength), other.subarray(headerLength, headerLength + CHUNK + 16), sealed.subarray(headerLength + CHUNK + 16)]);
    await expect(decrypt(spliced)).rejects.toMatchObject({ code: 'E_DECRYPT' });
  });

  it('rejects the wrong key and a foreign header with E_DECRYPT naming the part and key', async () => {
    const sealed = await encrypt(randomBytes(100));
    await expect(decrypt(sealed, 'Part a of backup b', randomBytes(32))).rejects.toThrow(/Part a of backup b .*key k1/);
    await expect(decrypt(Buffer.from('this is not encrypted at all, just text'))).rejects.toThrow(/encryption header/);
  });
});

describe('key-encryption keys', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    dir = await tempDir('dbb-keys-');
  });
  afterAll(() => dir.cleanup());
  const dataKey = randomBytes(32);

  it('a passphrase unwraps only with the same passphrase', async () => {
    const right = new PassphraseKey('correct horse battery', 'passphrase', 10);
    const wrapped = await right.wrap(dataKey);
    expect(JSON.stringify(wrapped)).not.toContain(dataKey.toString('base64'));
    expect((await right.unwrap(wrapped, 'B1')).equals(dataKey)).toBe(true);
    await expect(new PassphraseKey('wrong horse battery', 'passphrase', 10).unwrap(wrapped, 'B1')).rejects.toMatchObject({
      code: 'E_KEY',
      message: expect.stringMatching(/backup B1 with key passphrase: wrong passphrase/),
    });
    expect(await right.matchesCheck(await right.checkValue())).toBe(true);
    expect(await new PassphraseKey('wrong horse battery', 'passphrase', 10).matchesCheck(await right.checkValue())).toBe(false);
  });

  it('a passphrase shorter than the minimum cannot wrap, but is tried on unwrap and fails as a wrong key', async () => {
    const wrapped = await new PassphraseKey('correct horse battery', 'passphrase', 10).wrap(dataKey);
    const short = new PassphraseKey('wrong', 'passphrase', 10);
    await expect(short.unwrap(wrapped, 'B1')).rejects.toMatchObject({ code: 'E_KEY', message: expect.stringMatching(/wrong passphrase/) });
    await expect(short.wrap(dataKey)).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/too short/) });
  });

  it('a key file must be 0600 and unwraps only its own wrapping', async () => {
    const a = join(dir.path, 'a.key');
    const b = join(dir.path, 'b.key');
    await writeFile(a, randomBytes(32).toString('base64'), { mode: 0o600 });
    await writeFile(b, randomBytes(32).toString('base64'), { mode: 0o600 });
    const ka = new KeyFileKey(a);
    const wrapped = await ka.wrap(dataKey);
    expect((await ka.unwrap(wrapped, 'B')).equals(dataKey)).toBe(true);
    await expect(new KeyFileKey(b).unwrap(wrapped, 'B')).rejects.toMatchObject({ code: 'E_KEY' });
    await chmod(a, 0o644);
    expect(() => new KeyFileKey(a)).toThrow(/readable by others/);
  });

  it('an age recipient can wrap but only the identity unwraps, with a clear message otherwise', async () => {
    const pair = await AgeKey.generate();
    const recipient = await AgeKey.fromRecipient(pair.recipient);
    const identity = await AgeKey.fromIdentity(`# comment\n${pair.identity}\n`);
    expect(identity.keyId).toBe(recipient.keyId);
    const wrapped = await recipient.wrap(dataKey);
    expect((await identity.unwrap(wrapped, 'B')).equals(dataKey)).toBe(true);
    await expect(recipient.unwrap(wrapped, 'B')).rejects.toThrow(/only the public recipient key was given/);
    const stranger = await AgeKey.fromIdentity((await AgeKey.generate()).identity);
    await expect(stranger.unwrap(wrapped, 'B')).rejects.toMatchObject({ code: 'E_KEY' });
  });
});
