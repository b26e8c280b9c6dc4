// SocketTakeover.pause/resume on a real loopback socket: paused, nothing is read (the bytes wait in
// the kernel, so a WAL sender's messages gather instead of waking the reader one by one), and the
// first read after resume takes them all at once.
import { once } from 'node:events';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { SocketTakeover } from '../../../src/adapters/connectors/postgres/postgres-socket-takeover.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A connected pair on 127.0.0.1: `client` with pg's stand-in data listener on it, `peer` the server's end. */
async function pair(): Promise<{ client: Socket; peer: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const { Socket: NetSocket } = await import('node:net');
  const client = new NetSocket();
  client.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = (await accepted) as [Socket];
  client.on('data', () => {});
  cleanup.push(() => {
    client.destroy();
    peer.destroy();
    server.close();
  });
  return { client, peer };
}

const write = (s: Socket, b: Buffer) => new Promise<void>((resolve, reject) => s.write(b, (err) => (err ? reject(err) : resolve())));

describe('SocketTakeover pause/resume', () => {
  it('paused, reads nothing: the bytes written meanwhile arrive in one chunk after resume', async () => {
    const { client, peer } = await pair();
    const chunks: Buffer[] = [];
    const takeover = new SocketTakeover('test', (chunk) => chunks.push(Buffer.from(chunk)));
    takeover.take({ stream: client, query() {} } as unknown as pg.Connection, 'START');
    await write(peer, Buffer.from('first'));
    while (chunks.length === 0) await new Promise((r) => setImmediate(r));
    takeover.pause();
    // Written one by one, each on the reader's socket before the next (loopback), with event-loop turns between.
    for (const part of ['a', 'b', 'c', 'd']) {
      await write(peer, Buffer.from(part));
      await new Promise((r) => setImmediate(r));
    }
    expect(chunks.map(String)).toEqual(['first']);
    takeover.resume();
    while (Buffer.concat(chunks).length < 'firstabcd'.length) await new Promise((r) => setImmediate(r));
    expect(chunks.map(String)).toEqual(['first', 'abcd']);
    // Resumed for good: the socket reads on.
    await write(peer, Buffer.from('more'));
    while (Buffer.concat(chunks).length < 'firstabcdmore'.length) await new Promise((r) => setImmediate(r));
    expect(String(Buffer.concat(chunks))).toBe('firstabcdmore');
  });
});
