import type { MysqlConnection } from './mysql-connection.js';
import { coreConnection, verbatimQuery } from './mysql-raw-query.js';

const CLIENT_QUERY_ATTRIBUTES = 0x08000000;
const COM_QUERY = 0x03;
const OPEN = Buffer.from("BINLOG '", 'latin1');
/** The text mysql2's query command is made with; its packet is swapped for the encoded one as it is written. */
const STAND_IN = "BINLOG '(row events)'";
const STAND_IN_BYTES = Buffer.byteLength(STAND_IN, 'utf8');
/** Bytes of events encoded per base64 string (a multiple of 3): 64 KiB strings, young-generation objects. */
const CHUNK = 3 * (16 << 10);

/** A BINLOG statement encoded as the COM_QUERY packet that carries it, ready to send. */
export interface BinlogPacket {
  /** The packet: 4 bytes of header (mysql2 writes length and sequence id), COM_QUERY and its prefix, the text. */
  buffer: Buffer;
  /** Where the statement's text starts in `buffer`. */
  text: number;
}

/**
 * `BINLOG '<base64 of events>'` written straight into its COM_QUERY packet, a chunk of base64 at a
 * time. As one JS string the statement (MBs) went to V8's large-object space, freed only by a full
 * GC, and mysql2 copied it into a packet of the same size: about twice the statement per
 * connection stayed in memory, four connections' worth, until a full GC. `events` may be reused
 * once this returns.
 */
export function encodeBinlogStatement(conn: MysqlConnection, events: Buffer): BinlogPacket {
  const c = coreConnection(conn);
  const attributes = ((c?.config?.clientFlags ?? 0) & (c?.serverCapabilityFlags ?? 0) & CLIENT_QUERY_ATTRIBUTES) !== 0;
  const text = attributes ? 7 : 5;
  const buffer = Buffer.allocUnsafe(text + OPEN.length + Math.ceil(events.length / 3) * 4 + 1);
  buffer[4] = COM_QUERY;
  if (attributes) {
    buffer[5] = 0; // parameter_count
    buffer[6] = 1; // parameter_set_count
  }
  let at = text + OPEN.copy(buffer, text);
  for (let i = 0; i < events.length; i += CHUNK) at += buffer.write(events.toString('base64', i, Math.min(events.length, i + CHUNK)), at, 'latin1');
  buffer[at] = 0x27; // '
  return { buffer, text };
}

/**
 * Runs an encoded BINLOG statement. mysql2's query command is made with a short stand-in text
 * (through the static createQuery and addCommand its query() uses); when it writes its packet,
 * the encoded one goes instead, after the bytes mysql2 put before the text (its command byte and,
 * with query attributes, their header: copied over when they differ from the ones assumed). The
 * command then reads the server's reply as for any query. Without those parts of mysql2, the
 * statement's text goes through query() as a string.
 */
export function sendBinlogStatement(conn: MysqlConnection, packet: BinlogPacket): Promise<void> {
  const c = coreConnection(conn);
  type Packet = { buffer: Buffer; constructor: new (id: number, buffer: Buffer, start: number, end: number) => Packet };
  type Command = { start?: (packet: unknown, connection: { writePacket?: (p: Packet) => void }) => unknown };
  const createQuery = (c?.constructor as { createQuery?: (sql: string, values: undefined, cb: (err: Error | null) => void, config: unknown) => Command } | undefined)?.createQuery;
  if (typeof createQuery !== 'function' || typeof c?.addCommand !== 'function') return verbatimQuery(conn, packet.buffer.toString('latin1', packet.text));
  return new Promise<void>((resolve, reject) => {
    const command = createQuery(STAND_IN, undefined, (err) => (err ? reject(err) : resolve()), c.config);
    const start = command.start;
    if (typeof start !== 'function') return void verbatimQuery(conn, packet.buffer.toString('latin1', packet.text)).then(resolve, reject);
    command.start = function (this: Command, p, connection) {
      const write = connection.writePacket;
      if (typeof write !== 'function') return start.call(this, p, connection);
      const own = Object.hasOwn(connection, 'writePacket');
      const restore = () => {
        if (own) connection.writePacket = write;
        else delete connection.writePacket;
      };
      connection.writePacket = (theirs: Packet) => {
        restore();
        const buffer = withPrefixOf(theirs.buffer, packet);
        write.call(connection, new theirs.constructor(0, buffer, 0, buffer.length));
      };
      try {
        return start.call(this, p, connection);
      } finally {
        restore();
      }
    };
    c.addCommand!(command);
  });
}

/** The encoded packet, its bytes before the text made the same as mysql2's packet for the stand-in. */
function withPrefixOf(theirs: Buffer, ours: BinlogPacket): Buffer {
  const head = theirs.length - STAND_IN_BYTES;
  if (head === ours.text && theirs.compare(ours.buffer, 4, head, 4, head) === 0) return ours.buffer;
  const out = Buffer.allocUnsafe(head + ours.buffer.length - ours.text);
  theirs.copy(out, 4, 4, head);
  ours.buffer.copy(out, head, ours.text);
  return out;
}
