import { createServer, connect, type Server, type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { socketPaced } from '../../../src/adapters/connectors/mysql/mysql-load.js';

describe('socketPaced (the LOAD DATA LOCAL pacing stage)', () => {
  let server: Server | undefined;
  const held: Socket[] = [];
  afterEach(async () => {
    for (const s of held.splice(0)) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A client socket to a peer on 127.0.0.1 that reads nothing, written to until it needs a 'drain'. */
  async function fullSocket(): Promise<Socket> {
    server = createServer({ pauseOnConnect: true }, (peer) => held.push(peer));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    const socket = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    while (!socket.writableNeedDrain) socket.write(Buffer.alloc(1 << 16));
    return socket;
  }

  /** Two lines through socketPaced(socket) into a sink: the pipeline's promise and what reached the sink. */
  function paced(socket: Socket): { flowing: Promise<void>; out: Buffer[] } {
    const out: Buffer[] = [];
    const flowing = pipeline(
      Readable.from([Buffer.from('1\ta\n'), Buffer.from('2\tb\n')]),
      socketPaced(socket),
      new Writable({ write: (chunk: Buffer, _enc, done) => (out.push(chunk), done()) }),
    );
    return { flowing, out };
  }

  it('fails once the socket closes while it waits for room (a closed socket never drains), instead of waiting forever', async () => {
    const socket = await fullSocket();
    const { flowing, out: sent } = paced(socket);
    flowing.catch(() => undefined);
    // The first chunk passed on; the stage now waits for the socket to drain, which it never will.
    while (sent.length === 0) await new Promise((r) => setImmediate(r));
    socket.destroy();
    await expect(flowing).rejects.toMatchObject({ code: 'PROTOCOL_CONNECTION_LOST' });
    expect(Buffer.concat(sent).toString()).toBe('1\ta\n');
  });

  it('passes every chunk on once the socket has room again', async () => {
    const socket = await fullSocket();
    const { flowing, out } = paced(socket);
    while (out.length === 0) await new Promise((r) => setImmediate(r));
    // The peer reads: the socket drains and the rest follows.
    for (const peer of held) peer.resume();
    await flowing;
    expect(Buffer.concat(out).toString()).toBe('1\ta\n2\tb\n');
  });
});
