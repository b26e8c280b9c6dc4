import type { Document, MongoClient } from 'mongodb';
import type { DiagnosisRequest } from '../../../application/ports/database-diagnosis.js';
import { fail, type Finding, ok, warn } from '../../../domain/diagnosis.js';
import { isDbBackupError } from '../../../domain/errors.js';
import { connectionError, type MongoEndpoint, openClient } from './mongodb-endpoint.js';
import { type OplogWindow, oplogWindow } from './mongodb-oplog-read.js';
import { clusterOplogWindow } from './mongodb-oplog-shards.js';
import { describeServer, type ServerInfo } from './mongodb-server.js';

/** A schedule's interval past this share of the oplog window is a warning: one slow night and the chain ends. */
const WINDOW_MARGIN = 0.5;

/** `doctor` for a MongoDB source: reachability, server and topology, and the oplog window incrementals need. */
export async function diagnoseMongodb(endpoint: MongoEndpoint, request: DiagnosisRequest): Promise<Finding[]> {
  const subject = request.subject;
  let client: MongoClient;
  try {
    client = await openClient(endpoint);
    await client.db('admin').command({ ping: 1 });
  } catch (err) {
    const mapped = isDbBackupError(err) ? err : connectionError(err, endpoint);
    const fix = mapped.code === 'E_AUTH' ? 'Check the user, its password and authSource.' : 'Check the URL, that mongod runs, and its bindIp.';
    return [fail(subject, 'reachability', `${mapped.code}: ${mapped.message}`, fix)];
  }
  try {
    const server = await describeServer(client);
    const out = [ok(subject, 'reachability', `connected to ${endpoint.hosts}`), ok(subject, 'version', `MongoDB ${server.version}, ${topologyText(server)}`)];
    out.push(await oplogFinding(client, server, request, endpoint));
    return out;
  } catch (err) {
    return [fail(subject, 'check', `a check could not run: ${(err as Error).message}`, 'Rerun with --verbose.')];
  } finally {
    await client.close().catch(() => undefined);
  }
}

function topologyText(s: ServerInfo): string {
  return s.topology === 'replicaSet' ? `replica set ${s.setName}` : s.topology === 'sharded' ? 'a mongos (sharded cluster)' : 'a standalone mongod';
}

/**
 * Incrementals read the oplog: the window it holds (oldest to newest entry) must be longer than the
 * longest wait between two scheduled incrementals, with room to spare.
 */
async function oplogFinding(client: MongoClient, server: ServerInfo, request: DiagnosisRequest, endpoint: MongoEndpoint): Promise<Finding> {
  const { subject } = request;
  let window: OplogWindow;
  let shards = 0;
  try {
    // A sharded cluster's window is the intersection of its shards' (each shard's replica set is asked).
    if (server.topology === 'sharded') {
      const cluster = await clusterOplogWindow(client, endpoint);
      [window, shards] = [cluster, cluster.shards];
    } else {
      window = await oplogWindow(client);
    }
  } catch (err) {
    const message = `incremental backups need the oplog: ${(err as Error).message}`;
    const fix = server.topology === 'standalone' ? 'Run mongod as a replica set (a single-node one is enough: --replSet rs0, then rs.initiate()).' : 'Grant the backup user read on the local database (role "read" on "local"; on a sharded cluster, on every shard, and clusterMonitor to list the shards).';
    if (request.incremental) return fail(subject, 'oplog', message, fix);
    return { ...ok(subject, 'oplog', `${message} (only full backups are configured, so nothing breaks now)`), fix };
  }
  const spanMs = Math.max(0, (window.newest.t - window.oldest.t) * 1000);
  const hours = (ms: number) => `${(ms / 3_600_000).toFixed(1)} h`;
  const text = `oplog window ${hours(spanMs)}${shards ? ` (the intersection of ${shards} shards' windows)` : ''} (${new Date(window.oldest.t * 1000).toISOString()} … ${new Date(window.newest.t * 1000).toISOString()})`;
  const size = await oplogSize(client);
  const sized = size ? `, ${Math.round(size / 1048576)} MiB` : '';
  if (request.intervalMs === undefined) return ok(subject, 'oplog', `${text}${sized}`);
  const fix = `Keep the oplog longer than the time between incrementals: db.adminCommand({ replSetResizeOplog: 1, size: <MiB> }) or { replSetResizeOplog: 1, minRetentionHours: ${Math.ceil((request.intervalMs * 2) / 3_600_000)} }, or back up more often.`;
  if (request.intervalMs >= spanMs) return fail(subject, 'oplog', `${text}${sized}: shorter than the ${hours(request.intervalMs)} between scheduled incrementals, so the next one may find the parent's end gone (E_OPLOG_ROLLED)`, fix);
  if (request.intervalMs > spanMs * WINDOW_MARGIN) return warn(subject, 'oplog', `${text}${sized}: the ${hours(request.intervalMs)} between scheduled incrementals is over half of it`, fix);
  return ok(subject, 'oplog', `${text}${sized}; scheduled incrementals are at most ${hours(request.intervalMs)} apart`);
}

async function oplogSize(client: MongoClient): Promise<number | undefined> {
  const stats = (await client.db('local').command({ collStats: 'oplog.rs' }).catch(() => undefined)) as Document | undefined;
  return typeof stats?.maxSize === 'number' ? stats.maxSize : undefined;
}

/** The least privileges, as mongosh commands: a backup user (read the databases and the oplog) and a restore user. */
export function mongodbGrants(database?: string): string {
  const db = database ?? '<db>';
  return [
    '// Backups (full, incremental, replicate): read the database, the oplog, and the topology.',
    `db.getSiblingDB('admin').createUser({ user: 'dbbackup', pwd: passwordPrompt(), roles: [{ role: 'read', db: '${db}' }, { role: 'read', db: 'local' }, { role: 'clusterMonitor', db: 'admin' }] });`,
    '// Restores (and the oplog replay of a chain): write the target database, its indexes and options.',
    `db.getSiblingDB('admin').createUser({ user: 'dbrestore', pwd: passwordPrompt(), roles: [{ role: 'readWrite', db: '${db}' }, { role: 'dbAdmin', db: '${db}' }] });`,
    '',
  ].join('\n');
}
