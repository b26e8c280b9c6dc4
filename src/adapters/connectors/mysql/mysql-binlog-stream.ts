import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DbBackupError } from '../../../domain/errors.js';
import { ioTimeoutOf, type MysqlConnection } from './mysql-connection.js';

/**
 * The replication protocol's COM_BINLOG_DUMP on a mysql2 connection, keeping every event's raw
 * bytes (mysql2's own binlogDump parses a few events and drops the rest). As go-mysql's
 * replication/backup.go: the session announces the checksum it accepts (@master_binlog_checksum)
 * and, on MariaDB, that it understands GTID events (@mariadb_slave_capability = 4); it registers
 * under a random server id (a dump under an id already streaming would end the other one) and asks
 * for heartbeats, so a stall is an error rather than a wait. mysql2's packet parser already joins a
 * payload split over 16 MB packets. The generator ends only when the caller stops reading (it
 * stops at its own end position) or on an error; returning from it closes the connection.
 */

const require = createRequire(import.meta.url);
const mysql2Lib = join(dirname(require.resolve('mysql2')), 'lib');
// mysql2's `exports` hides lib/; these are its Command and Packet classes, loaded by path.
const Command = require(join(mysql2Lib, 'commands', 'command.js')) as new () => CommandLike;
const Packet = require(join(mysql2Lib, 'packets', 'packet.js')) as new (id: number, buffer: Buffer, start: number, end: number) => PacketLike;

interface PacketLike {
  buffer: Buffer;
  start: number;
  end: number;
  offset: number;
  isEOF(): boolean;
}
interface CommandLike {
  on(event: string, listener: (...args: unknown[]) => void): void;
}
interface CoreConnection {
  addCommand(cmd: unknown): void;
  writePacket(packet: PacketLike): void;
  pause(): void;
  resume(): void;
  destroy(): void;
  stream: { destroy(): void };
}

const COM_BINLOG_DUMP = 0x12;
const COM_REGISTER_SLAVE = 0x15;
const HEARTBEAT_SECONDS = 5;
/** Without any packet (event or heartbeat) for this long the server is taken to have stalled. */
const STALL_SECONDS = 30;
/** Events buffered before the socket is paused (backpressure). */
const HIGH_WATER = 16 << 20;
/**
 * …or this many, however small: each is a Buffer object, and 16 MiB of one-row transactions' events
 * (hundreds of thousands) made the backup's memory grow with the transaction count.
 */
const HIGH_WATER_EVENTS = 8192;

export interface DumpStart {
  file: string;
  position: number;
  /** MariaDB: announce GTID support (GTID events instead of BEGIN queries). */
  mariadb: boolean;
  /** Without any packet for this long the server is taken to have stalled (default 30 s; at least 2 heartbeats). */
  stallSeconds?: number;
}

/**
 * The heartbeat period: 5 s, or a third of the connection's --io-timeout when that is shorter, so
 * that an idle but healthy stream always talks within the timeout (read-watchdog.ts).
 */
function heartbeatFor(conn: MysqlConnection): number {
  const io = ioTimeoutOf(conn);
  return io > 0 ? Math.max(0.1, Math.min(HEARTBEAT_SECONDS, io / 3000)) : HEARTBEAT_SECONDS;
}

/** The checksum the server writes (NONE or CRC32); the stream carries it too. */
export async function prepareDumpSession(conn: MysqlConnection, mariadb: boolean, heartbeatSeconds = heartbeatFor(conn)): Promise<{ checksum: string }> {
  const [rows] = await conn.query('SELECT @@GLOBAL.binlog_checksum AS c');
  const checksum = String((rows as { c: string }[])[0]?.c ?? 'NONE').toUpperCase();
  await conn.query('SET @master_binlog_checksum = @@GLOBAL.binlog_checksum');
  await conn.query(`SET @master_heartbeat_period = ${Math.round(heartbeatSeconds * 1_000_000_000)}`);
  if (mariadb) await conn.query('SET @mariadb_slave_capability = 4');
  return { checksum };
}

/** Raw events from `start` on, without the OK byte each packet starts with; heartbeats are dropped. */
export async function* binlogEvents(conn: MysqlConnection, start: DumpStart, signal: AbortSignal): AsyncGenerator<Buffer> {
  const core = (conn as unknown as { connection: CoreConnection }).connection;
  const serverId = randomInt(0x40000000, 0x7fffffff);
  // The connection's idle-read timeout (E_NETWORK_TIMEOUT) comes first; this catches a stall when it is off.
  const io = ioTimeoutOf(conn);
  const stall = start.stallSeconds ?? (io > 0 ? io / 1000 + 5 : STALL_SECONDS);
  await simpleCommand(core, registerPacket(serverId));
  // A FIFO read from `head`: Array.shift() on a long queue (its backing store in V8's large-object
  // space, which is not trimmed in place) copied the whole array at each event — quadratic, most of
  // an incremental's CPU with many small transactions.
  const queue: (Buffer | undefined)[] = [];
  let head = 0;
  let queued = 0;
  let paused = false;
  let failure: Error | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  let lastPacket = Date.now();
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const cmd = new Command() as CommandLike & { start(p: unknown, c: CoreConnection): unknown; data(p: PacketLike): unknown; description: string };
  cmd.description = `the binary log stream (COM_BINLOG_DUMP from ${start.file}:${start.position}) waited for events or heartbeats`;
  cmd.start = (_p, c) => {
    c.writePacket(dumpPacket(start, serverId));
    return cmd.data;
  };
  cmd.data = (packet: PacketLike) => {
    lastPacket = Date.now();
    if (packet.isEOF()) {
      ended = true;
      notify();
      return null;
    }
    const event = Buffer.from(packet.buffer.subarray(packet.offset + 1, packet.end));
    if (event[4] !== 27) {
      queue.push(event);
      queued += event.length;
      if ((queued > HIGH_WATER || queue.length - head > HIGH_WATER_EVENTS) && !paused) {
        paused = true;
        core.pause();
      }
      notify();
    }
    return cmd.data;
  };
  cmd.on('error', (err) => {
    failure = dumpError(err as Error);
    notify();
  });
  const onAbort = () => {
    failure = signal.reason instanceof Error ? signal.reason : new Error('aborted');
    notify();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  // mysql2 does not fail a running command when the server closes the socket (a KILLed dump thread):
  // the end of the stream is a failure of its own, seen once the events before it were taken.
  const onClose = () => {
    if (ended) return;
    failure ??= new DbBackupError('E_BACKUP_FAILED', 'The MySQL server closed the binary log connection while the changes were read; try again.');
    notify();
  };
  const socket = core.stream as unknown as NodeJS.EventEmitter;
  socket.once('end', onClose);
  socket.once('close', onClose);
  const watchdog = setInterval(() => {
    if (!paused && Date.now() - lastPacket > stall * 1000) {
      failure ??= new DbBackupError('E_BACKUP_FAILED', `The MySQL server sent no binary log event nor heartbeat for ${stall} s while the changes were read; try again (check the server's load and the network).`);
      notify();
    }
  }, Math.min(1000, stall * 250));
  try {
    core.addCommand(cmd);
    for (;;) {
      if (failure) throw failure;
      const event = queue[head];
      if (event) {
        queue[head++] = undefined;
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        } else if (head >= 1024 && head * 2 >= queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        queued -= event.length;
        if (paused && queued < HIGH_WATER / 2 && queue.length - head < HIGH_WATER_EVENTS / 2) {
          paused = false;
          lastPacket = Date.now();
          core.resume();
        }
        yield event;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearInterval(watchdog);
    signal.removeEventListener('abort', onAbort);
    socket.off('end', onClose);
    socket.off('close', onClose);
    // A dump never ends by itself: the connection goes with it, closed hard (a half-closed, paused
    // socket would leave the server's dump thread blocked on it, holding its binlog file).
    core.stream.destroy();
    core.destroy();
  }
}

/** Runs a command that answers with one OK (or error) packet. */
function simpleCommand(core: CoreConnection, packet: PacketLike): Promise<void> {
  return new Promise((resolve, reject) => {
    const cmd = new Command() as CommandLike & { start(p: unknown, c: CoreConnection): unknown; done(): null };
    cmd.start = (_p, c) => {
      c.writePacket(packet);
      return cmd.done;
    };
    cmd.done = () => {
      resolve();
      return null;
    };
    cmd.on('error', (err) => reject(dumpError(err as Error)));
    core.addCommand(cmd);
  });
}

function registerPacket(serverId: number): PacketLike {
  // COM_REGISTER_SLAVE: server id, empty host/user/password, port 0, rank 0, master id 0.
  const body = Buffer.alloc(1 + 4 + 3 + 2 + 4 + 4);
  body[0] = COM_REGISTER_SLAVE;
  body.writeUInt32LE(serverId, 1);
  return packetOf(body);
}

function dumpPacket(start: DumpStart, serverId: number): PacketLike {
  const name = Buffer.from(start.file, 'utf8');
  const body = Buffer.alloc(1 + 4 + 2 + 4 + name.length);
  body[0] = COM_BINLOG_DUMP;
  body.writeUInt32LE(start.position, 1);
  body.writeUInt16LE(0, 5);
  body.writeUInt32LE(serverId, 7);
  name.copy(body, 11);
  return packetOf(body);
}

function packetOf(body: Buffer): PacketLike {
  const buffer = Buffer.concat([Buffer.alloc(4), body]);
  return new Packet(0, buffer, 0, buffer.length);
}

/** ER_MASTER_FATAL_ERROR_READING_BINLOG: the log no longer has the start (purged) or cannot be read. */
function dumpError(err: Error): Error {
  const e = err as Error & { errno?: number; code?: string };
  if (e.errno === 1236) {
    return new DbBackupError('E_LOG_PURGED', `The server cannot send its binary log from the parent's end (${e.message}): the files were purged. The chain ends here; take a full backup (--type full, or --auto-full) and keep binlogs longer than the time between backups (binlog_expire_logs_seconds / expire_logs_days).`, { cause: err });
  }
  if (e.code === 'ER_SPECIFIC_ACCESS_DENIED_ERROR' || e.code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1227) {
    return new DbBackupError('E_AUTH', `The MySQL user may not read the binary log (${e.message}); GRANT REPLICATION SLAVE (MariaDB: REPLICATION SLAVE, BINLOG MONITOR) ON *.* TO the backup user.`, { cause: err });
  }
  return err;
}
