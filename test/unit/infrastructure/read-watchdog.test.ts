import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ioTimeoutMs, networkTimeout } from '../../../src/adapters/connectors/io-timeout.js';
import { FIRST_ANSWER_FACTOR, isQuietStatement, sendsBody, statementHead, statementTraits, type Waiting, watchReads } from '../../../src/infrastructure/read-watchdog.js';

// Real sockets on 127.0.0.1: a server that answers as each test says (or never), a client watched.
const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function pair(onServer: (s: Socket) => void = () => undefined): Promise<Socket> {
  const server = createServer((s) => {
    sockets.push(s);
    onServer(s);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  sockets.push(client);
  await once(client, 'connect');
  return client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timeoutError = (what: string, waitedMs: number) => networkTimeout('Test', '127.0.0.1:1', what, waitedMs);

/**
 * Watches `client` with a 200 ms timeout (tests where it must fire) or a 1 s one (tests where it must
 * not: room for a loaded machine); `waiting()` says what it waits for.
 */
function watch(client: Socket, waiting: () => Waiting | undefined, timeoutMs = 200) {
  return watchReads({ stream: () => client, waitingFor: waiting, timeoutMs, onTimeout: timeoutError });
}

describe('the idle-read timeout', () => {
  it('destroys a connection that waits for an answer and reads nothing, with E_NETWORK_TIMEOUT naming what it waited for', async () => {
    const client = await pair();
    watch(client, () => ({ what: 'a query waited for its answer (SELECT 1)' }));
    client.write('SELECT 1');
    const [err] = (await once(client, 'error')) as [Error & { code?: string }];
    expect(err.code).toBe('E_NETWORK_TIMEOUT');
    expect(err.message).toMatch(/^The connection to the Test server at 127\.0\.0\.1:1 passed no byte for 200 ms \(--io-timeout\) while a query waited for its answer \(SELECT 1\)/);
    expect(client.destroyed).toBe(true);
  });

  it('leaves an idle connection alone, and one whose server keeps talking', async () => {
    const idle = await pair();
    watch(idle, () => undefined);
    let ticker: NodeJS.Timeout | undefined;
    const talking = await pair((s) => (ticker = setInterval(() => s.write('k'), 20)));
    watch(talking, () => ({ what: 'a stream' }), 1000);
    await sleep(2500);
    clearInterval(ticker);
    expect(idle.destroyed).toBe(false);
    expect(talking.destroyed).toBe(false);
  });

  it('leaves a connection alone while bytes wait for its consumer (backpressure), and fires once they are taken and nothing follows', async () => {
    const client = await pair((s) => s.write(Buffer.alloc(1000)));
    client.pause();
    watch(client, () => ({ what: 'a COPY' }));
    await once(client, 'readable');
    await sleep(800);
    expect(client.destroyed).toBe(false);
    client.read();
    const [err] = (await once(client, 'error')) as [Error & { code?: string }];
    expect(err.code).toBe('E_NETWORK_TIMEOUT');
  });

  it('counts pings written into a silent connection as nothing: it still fires', async () => {
    const client = await pair();
    const ping = setInterval(() => client.write('ping'), 20);
    watch(client, () => ({ what: 'a replication stream' }));
    const [err] = (await once(client, 'error')) as [Error & { code?: string }];
    clearInterval(ping);
    expect(err.code).toBe('E_NETWORK_TIMEOUT');
  });

  it('counts a body the peer takes as progress while sending', async () => {
    const client = await pair((s) => s.resume());
    watch(client, () => ({ what: 'a LOAD DATA', sending: true }), 1000);
    const pump = setInterval(() => client.write(Buffer.alloc(64 << 10)), 20);
    await sleep(2500);
    clearInterval(pump);
    expect(client.destroyed).toBe(false);
  });

  it('classifies statements: silent ones, body senders, and a head without literals', () => {
    expect(isQuietStatement('CREATE UNIQUE INDEX t_pkey ON public.t (i)')).toBe(true);
    expect(isQuietStatement('ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey')).toBe(true);
    expect(isQuietStatement("SELECT * FROM pg_create_logical_replication_slot('s', 'pgoutput')")).toBe(true);
    expect(isQuietStatement('COPY public.t (i) TO STDOUT')).toBe(false);
    expect(isQuietStatement('SELECT `i` FROM `app`.`t`')).toBe(false);
    expect(sendsBody('COPY "public"."t" ("i") FROM STDIN (FREEZE)')).toBe(true);
    expect(sendsBody("LOAD DATA LOCAL INFILE 'x' INTO TABLE t")).toBe(true);
    expect(sendsBody('COPY public.t TO STDOUT')).toBe(false);
    expect(statementHead("ALTER ROLE app PASSWORD 'secret-canary'")).toBe('ALTER ROLE app PASSWORD');
    expect(statementHead(`SELECT ${'x, '.repeat(60)}1`)).toHaveLength(78);
    // A label reads only the opening; a request's kind is read once (the watchdog asks at every poll).
    const batch = `BINLOG '${'QUxURVIgVEFCTEUg'.repeat(1 << 19)}'`;
    expect(statementHead(batch)).toBe('BINLOG');
    const request = { text: batch };
    expect(statementTraits(request, batch)).toEqual({ quiet: false, sending: false });
    expect(statementTraits(request, 'CREATE INDEX i ON t (c)')).toEqual({ quiet: false, sending: false });
    expect(statementTraits({}, `ALTER TABLE t ADD COLUMN c INT /* ${'x'.repeat(1 << 20)} */`).quiet).toBe(true);
    expect(statementTraits({}, `COPY t (${'"c", '.repeat(2000)}"d") FROM STDIN`).sending).toBe(true);
  });

  it('reads --io-timeout as a duration, DBBACKUP_IO_TIMEOUT when unset, 60s by default; 0 turns it off', () => {
    expect(ioTimeoutMs('5s', {})).toBe(5000);
    expect(ioTimeoutMs('250ms', {})).toBe(250);
    expect(ioTimeoutMs('2m', {})).toBe(120_000);
    expect(ioTimeoutMs('0', {})).toBe(0);
    expect(ioTimeoutMs(undefined, { DBBACKUP_IO_TIMEOUT: '3s' })).toBe(3000);
    expect(ioTimeoutMs(undefined, {})).toBe(60_000);
    expect(() => ioTimeoutMs('5', {})).toThrow(/--io-timeout .* takes a duration/);
    expect(() => ioTimeoutMs('soon', {})).toThrow(/E_USAGE|takes a duration/);
  });

  it('never fires when turned off (0)', async () => {
    const client = await pair();
    watchReads({ stream: () => client, waitingFor: () => ({ what: 'x' }), timeoutMs: 0, onTimeout: timeoutError });
    await sleep(500);
    expect(client.destroyed).toBe(false);
  });
  it('gives a request FIRST_ANSWER_FACTOR times the timeout before its first answer byte (the server may be working), one timeout once the answer flows', async () => {
    const request = {};
    // No byte of the answer: the silence allowed is 10 × 100 ms (the message says how long it waited).
    const silent = await pair();
    watch(silent, () => ({ what: 'a query waited for its answer (SELECT big)', request }), 100);
    silent.write('SELECT big');
    const [first] = (await once(silent, 'error')) as [Error];
    expect(first.message).toMatch(new RegExp(`passed no byte for ${(100 * FIRST_ANSWER_FACTOR) / 1000} s \\(--io-timeout\\)`));
    expect(first.message).toMatch(/raise --io-timeout/);
    // The answer began (one byte after the request was seen), then silence: one timeout.
    const answered = await pair((s) => s.once('data', () => setTimeout(() => s.write('row 1'), 300)));
    answered.on('data', () => undefined);
    watch(answered, () => ({ what: 'a query waited for its answer (SELECT big)', request }), 100);
    answered.write('SELECT big');
    const [second] = (await once(answered, 'error')) as [Error];
    expect(second.message).toMatch(/passed no byte for 100 ms \(--io-timeout\)/);
  });
});
