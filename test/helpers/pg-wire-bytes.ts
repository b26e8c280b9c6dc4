// Big-endian integers and length-prefixed records as the PostgreSQL wire protocol and the change-log
// format 2 (`changes/NNNN.pgo`) write them: for tests that build pgoutput messages by hand.
export const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export const u64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
};

/** One format-2 record: the message's length, then the message. */
export const record = (message: Buffer): Buffer => Buffer.concat([u32(message.length), message]);
