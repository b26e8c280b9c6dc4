import { MongoNetworkError, MongoNetworkTimeoutError, MongoServerSelectionError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { resolveEndpoint } from '../../../src/adapters/connectors/mongodb/mongodb-endpoint.js';
import { mongoTimeoutError, timeoutOptions } from '../../../src/adapters/connectors/mongodb/mongodb-timeouts.js';

describe('MongoDB --io-timeout', () => {
  it('connects within the timeout, gives a command ten times it and a whole-collection cursor the timeout itself; selection at most 15 s', () => {
    expect(timeoutOptions(1000, '')).toEqual({
      options: { serverSelectionTimeoutMS: 10_000, connectTimeoutMS: 1000, socketTimeoutMS: 10_000 },
      timeouts: { ioTimeoutMs: 1000, streamTimeoutMs: 1000 },
    });
    expect(timeoutOptions(60_000, '').options).toEqual({ serverSelectionTimeoutMS: 15_000, connectTimeoutMS: 60_000, socketTimeoutMS: 600_000 });
    expect(timeoutOptions(0, '')).toEqual({ options: { serverSelectionTimeoutMS: 15_000 }, timeouts: { ioTimeoutMs: 0 } });
  });

  it('leaves what the --url sets to the URL (and then does not time cursors on its own)', () => {
    expect(timeoutOptions(1000, '?socketTimeoutMS=5&connectTimeoutMS=7&serverSelectionTimeoutMS=9')).toEqual({ options: {}, timeouts: { ioTimeoutMs: 1000 } });
  });

  it('reads --io-timeout, then DBBACKUP_IO_TIMEOUT, default 60 s', () => {
    expect(resolveEndpoint({ engine: 'mongodb', url: 'mongodb://h:1/', options: { ioTimeout: '2s' } }, {}).clientOptions.connectTimeoutMS).toBe(2000);
    expect(resolveEndpoint({ engine: 'mongodb', url: 'mongodb://h:1/' }, { DBBACKUP_IO_TIMEOUT: '500ms' }).timeouts.streamTimeoutMs).toBe(500);
    expect(resolveEndpoint({ engine: 'mongodb', url: 'mongodb://h:1/' }, {}).clientOptions.socketTimeoutMS).toBe(600_000);
    expect(() => resolveEndpoint({ engine: 'mongodb', url: 'mongodb://h:1/', options: { ioTimeout: 'soon' } }, {})).toThrow(/io-timeout/);
  });

  it('maps the driver timeouts to E_NETWORK_TIMEOUT naming host:port and what waited; other errors not', () => {
    const t = { ioTimeoutMs: 1000, streamTimeoutMs: 1000 };
    const cmd = mongoTimeoutError(new MongoNetworkTimeoutError('connection 4 to 10.0.0.9:27018 timed out'), 'h:1', t);
    expect(cmd?.code).toBe('E_NETWORK_TIMEOUT');
    expect(cmd?.exitCode).toBe(3);
    expect(cmd?.message).toMatch(/MongoDB server at 10\.0\.0\.9:27018 passed no byte for 10 s \(--io-timeout\) while a command waited for its answer/);
    const cursor = mongoTimeoutError(Object.assign(new Error('wrapped'), { cause: new MongoNetworkTimeoutError('connection 4 to 10.0.0.9:27018 timed out') }), 'h:1', t, { what: 'reading collection a.b', ms: 1000 });
    expect(cursor?.message).toMatch(/passed no byte for 1 s \(--io-timeout\) while reading collection a\.b/);
    const handshake = mongoTimeoutError(new MongoNetworkTimeoutError('connection 5 to 10.0.0.9:27018 timed out', { beforeHandshake: true }), 'h:1', t);
    expect(handshake?.message).toMatch(/passed no byte for 1 s \(--io-timeout\) while connecting/);
    const servers = new Map([['10.0.0.9:27018', { address: '10.0.0.9:27018', error: new MongoNetworkTimeoutError('connection 6 to 10.0.0.9:27018 timed out') }]]);
    const selection = mongoTimeoutError(new MongoServerSelectionError('Server selection timed out after 10000 ms', { servers } as never), 'h:1', t);
    expect(selection?.message).toMatch(/at 10\.0\.0\.9:27018 passed no byte for 1 s \(--io-timeout\) while selecting a server/);
    const refused = new Map([['h:1', { address: 'h:1', error: new MongoNetworkError('connect ECONNREFUSED h:1') }]]);
    expect(mongoTimeoutError(new MongoServerSelectionError('Server selection timed out after 10000 ms', { servers: refused } as never), 'h:1', t)).toBeUndefined();
    expect(mongoTimeoutError(new MongoNetworkError('connection 4 to h:1 closed'), 'h:1', t)).toBeUndefined();
  });
});
