/**
 * Builds v4 binlog events one after the other, as a server writes them into one file: a 19-byte
 * header (timestamp 1583813190, server id 1, the event's length, log_pos = the offset after it)
 * and the body as given (no checksum). `pos` is the offset after the last event built.
 */
export function binlogEvents(start = 4): { ev(type: number, body: Buffer): Buffer; readonly pos: number } {
  let pos = start;
  return {
    ev(type, body) {
      const h = Buffer.alloc(19);
      h.writeUInt32LE(1583813190, 0);
      h[4] = type;
      h.writeUInt32LE(1, 5);
      h.writeUInt32LE(19 + body.length, 9);
      pos += 19 + body.length;
      h.writeUInt32LE(pos, 13);
      return Buffer.concat([h, body]);
    },
    get pos() {
      return pos;
    },
  };
}
