import type { Document, MongoClient } from 'mongodb';
import { DbBackupError } from '../../../domain/errors.js';
import { type MongoEndpoint, openClient } from './mongodb-endpoint.js';

/** A shard of a sharded cluster, as listShards (config.shards) names it. */
export interface ShardInfo {
  /** The shard's id (`_id` in config.shards): parts and positions are keyed by it. */
  id: string;
  /** Its replica set's name, and its members' `host:port` list. */
  replicaSet: string;
  hosts: string;
}

/** The balancer's state when asked: `stopped` when its mode is "off". */
export interface BalancerState {
  mode: string;
  stopped: boolean;
}

/** A shard id safe as a part path segment (ids are user-chosen names; config.shards is not trusted blindly). */
const SHARD_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const HOSTS = /^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:,(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?)*$/;

/**
 * The cluster's shards (listShards, run on a mongos), sorted by id. Each shard must be a replica
 * set (`rs/host:port,…`): a shard that is a single mongod has no oplog, and is refused.
 */
export async function listShards(client: MongoClient): Promise<ShardInfo[]> {
  const reply = (await client.db('admin').command({ listShards: 1 })) as Document;
  const shards = Array.isArray(reply.shards) ? (reply.shards as Document[]) : [];
  if (shards.length === 0) throw new DbBackupError('E_UNSUPPORTED', 'The mongos lists no shards (listShards): there is nothing to read the oplog of.');
  const out = shards.map((s): ShardInfo => {
    const id = String(s._id ?? '');
    const host = String(s.host ?? '');
    const slash = host.indexOf('/');
    if (!SHARD_ID.test(id)) throw new DbBackupError('E_UNSUPPORTED', `A shard id in config.shards is not a plain name (${JSON.stringify(id.slice(0, 80))}); dbbackup stores each shard's oplog under its id.`);
    if (slash <= 0 || slash === host.length - 1) {
      throw new DbBackupError('E_UNSUPPORTED', `Shard "${id}" is not a replica set (its host is "${host.slice(0, 200)}"): a single mongod keeps no oplog. Every shard must be a replica set for incremental backups.`);
    }
    const hosts = host.slice(slash + 1);
    // The shard's hosts go into a connection string that carries our credentials: plain host:port lists only.
    if (!HOSTS.test(hosts)) throw new DbBackupError('E_UNSUPPORTED', `Shard "${id}" lists hosts that are not host:port names (${JSON.stringify(hosts.slice(0, 200))}).`);
    return { id, replicaSet: host.slice(0, slash), hosts };
  });
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The balancer's mode (balancerStatus on a mongos); "unknown" when the user may not ask. */
export async function balancerState(client: MongoClient): Promise<BalancerState> {
  const reply = (await client.db('admin').command({ balancerStatus: 1 }).catch(() => undefined)) as Document | undefined;
  const mode = typeof reply?.mode === 'string' ? reply.mode : 'unknown';
  return { mode, stopped: mode === 'off' };
}

/** The warning a backup of a sharded cluster carries while the balancer runs. */
export function balancerWarning(b: BalancerState): string[] {
  if (b.stopped) return [];
  if (b.mode === 'unknown') return ['The balancer\'s state could not be read (balancerStatus needs the clusterMonitor role): if it runs, chunks may migrate while the backup reads them; stop it around backups (sh.stopBalancer()).'];
  return [
    `The balancer was not stopped (balancerStatus mode "${b.mode}"): chunks may migrate between shards while the backup reads them. ` +
      'Migration entries (fromMigrate) are skipped on replay, as PBM does, but stop the balancer around backups (sh.stopBalancer(), then sh.startBalancer()) for a clean cut.',
  ];
}

const URL_SHAPE = /^(mongodb(?:\+srv)?):\/\/(?:([^@/]*)@)?([^/?]*)(\/[^?]*)?(\?.*)?$/i;

/**
 * The endpoint of one shard's replica set, from the mongos endpoint: the same credentials and TLS
 * options, the shard's hosts and `replicaSet` (a mongodb+srv:// URL becomes mongodb:// with
 * tls=true and authSource=admin unless given). The oplog is read from the set's primary.
 */
export function shardEndpoint(mongos: MongoEndpoint, shard: ShardInfo): MongoEndpoint {
  const m = URL_SHAPE.exec(mongos.url);
  if (!m) throw new DbBackupError('E_USAGE', 'A MongoDB --url starts with mongodb:// or mongodb+srv://.');
  const [, scheme, userInfo, , path, query] = m;
  const params = new URLSearchParams((query ?? '').replace(/^\?/, ''));
  for (const key of [...params.keys()]) if (/^(directConnection|replicaSet|loadBalanced|srvServiceName|srvMaxHosts)$/i.test(key)) params.delete(key);
  params.set('replicaSet', shard.replicaSet);
  // SRV implies TLS, and its TXT record usually carries authSource=admin (as Atlas's does): kept explicit here.
  if (scheme!.toLowerCase() === 'mongodb+srv') {
    if (![...params.keys()].some((k) => /^(tls|ssl)$/i.test(k))) params.set('tls', 'true');
    if (![...params.keys()].some((k) => /^authSource$/i.test(k))) params.set('authSource', 'admin');
  }
  const url = `mongodb://${userInfo ? `${userInfo}@` : ''}${shard.hosts}${path ?? '/'}?${params.toString()}`;
  return { ...mongos, url, hosts: shard.hosts };
}

/** A connected client per shard (closed by `close`), opened in order; E_CONN_REFUSED names the shard. */
export async function openShards(mongos: MongoEndpoint, shards: ShardInfo[]): Promise<{ clients: Map<string, MongoClient>; close(): Promise<void> }> {
  const clients = new Map<string, MongoClient>();
  const close = async () => {
    await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
  };
  try {
    for (const shard of shards) {
      try {
        clients.set(shard.id, await openClient(shardEndpoint(mongos, shard)));
      } catch (err) {
        if (err instanceof DbBackupError) throw new DbBackupError(err.code, `Shard "${shard.id}" (replica set ${shard.replicaSet}): ${err.message}`, { cause: err });
        throw err;
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { clients, close };
}
