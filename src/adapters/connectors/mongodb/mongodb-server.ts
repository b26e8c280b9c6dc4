import type { Document, MongoClient, Timestamp } from 'mongodb';

export interface ServerInfo {
  version: string;
  topology: 'standalone' | 'replicaSet' | 'sharded';
  setName?: string;
  /** The cluster time the server reported when asked (replica sets and sharded clusters only). */
  clusterTime: { t: number; i: number } | null;
}

/** What kind of deployment answers: it decides whether a snapshot read is possible. */
export async function describeServer(client: MongoClient): Promise<ServerInfo> {
  const admin = client.db('admin');
  const hello = (await admin.command({ hello: 1 })) as Document;
  const build = (await admin.command({ buildInfo: 1 }).catch(() => ({}))) as Document;
  const topology = hello.msg === 'isdbgrid' ? 'sharded' : typeof hello.setName === 'string' ? 'replicaSet' : 'standalone';
  const cluster = (hello.$clusterTime as Document | undefined)?.clusterTime as Timestamp | undefined;
  return {
    version: typeof build.version === 'string' ? build.version : String(hello.version ?? ''),
    topology,
    ...(typeof hello.setName === 'string' ? { setName: hello.setName } : {}),
    clusterTime: cluster ? timestampJson(cluster) : null,
  };
}

/** A BSON Timestamp as `{ t: seconds, i: increment }` (the form mongodump and the oplog use). */
export function timestampJson(ts: Timestamp): { t: number; i: number } {
  return { t: ts.t, i: ts.i };
}
