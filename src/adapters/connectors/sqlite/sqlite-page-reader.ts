import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { DbBackupError } from '../../../domain/errors.js';

/**
 * The helper process that reads a live database's files for withLiveSnapshot. It runs apart
 * because closing a descriptor of a file drops every POSIX lock its process holds on that file:
 * a read of the database, -wal or -shm file in this process would drop the locks of any SQLite
 * connection here on it (a scheduler worker's, a replicator's), and with them what keeps a
 * checkpoint from overwriting what those connections read. The helper holds no lock to drop.
 *
 * Protocol: it writes "R" when ready. Line `shm` → the first 136 bytes of the -shm file (zeros when
 * missing). Line `read <pageSize> <pageCount> <nBackfill> <mxFrame> <salt hex>` → pages
 * 1..pageCount of the database file, each overlaid with the newest of WAL frames
 * nBackfill+1..mxFrame that holds it; then it exits 0, or 2 with the reason on stderr.
 */
const SOURCE = String.raw`
const fs = require('node:fs');
const path = process.argv[1];
const fail = (why) => { process.stderr.write(why); process.exit(2); };
// Blocking writes of one reused buffer: the process stays at its start-up size (a fresh megabyte per
// chunk let the heap grow by tens of MB before a collection). fd 1 is made blocking with process.stdout.
const write = (buf) => { for (let done = 0; done < buf.length; ) done += fs.writeSync(1, buf, done); };
function read(pageSize, pageCount, nBackfill, mxFrame, salt) {
  const overlay = new Map();
  if (mxFrame > nBackfill) {
    const wal = fs.openSync(path + '-wal', 'r');
    const frameBytes = 24 + pageSize;
    const per = Math.max(1, Math.floor((1 << 20) / frameBytes));
    const buf = Buffer.alloc(per * frameBytes);
    for (let first = nBackfill + 1; first <= mxFrame; first += per) {
      const count = Math.min(per, mxFrame - first + 1);
      const at = 32 + (first - 1) * frameBytes;
      if (fs.readSync(wal, buf, 0, count * frameBytes, at) < count * frameBytes) fail('the WAL is shorter than its index says');
      for (let i = 0; i < count; i++) {
        const f = i * frameBytes;
        if (buf.toString('hex', f + 8, f + 16) !== salt) fail('a WAL frame has a foreign salt');
        overlay.set(buf.readUInt32BE(f), { fd: wal, at: at + f + 24 });
      }
    }
  }
  const pending = [...overlay.keys()].sort((a, b) => a - b);
  const db = fs.openSync(path, 'r');
  const per = Math.max(1, Math.floor((1 << 20) / pageSize));
  let next = 0;
  const whole = Buffer.alloc(per * pageSize);
  for (let first = 1; first <= pageCount; first += per) {
    const count = Math.min(per, pageCount - first + 1);
    const chunk = whole.subarray(0, count * pageSize);
    chunk.fill(0);
    const filled = Math.floor(fs.readSync(db, chunk, 0, chunk.length, (first - 1) * pageSize) / pageSize);
    let fromWal = 0;
    for (; next < pending.length && pending[next] < first + count; next++) {
      const pgno = pending[next];
      const { fd, at } = overlay.get(pgno);
      if (fs.readSync(fd, chunk, (pgno - first) * pageSize, pageSize, at) !== pageSize) fail('page ' + pgno + ' of the WAL could not be read whole');
      if (pgno - first >= filled) fromWal++;
    }
    if (filled + fromWal < count) fail('the database file ends before page ' + (first + filled) + ' of ' + pageCount + ' and the WAL does not hold it');
    write(chunk);
  }
  process.stdin.destroy();
}
let line = '';
process.stdin.on('data', (d) => {
  line += d;
  for (let nl; (nl = line.indexOf('\n')) >= 0; line = line.slice(nl + 1)) {
    const [cmd, ...a] = line.slice(0, nl).split(' ');
    if (cmd === 'shm') {
      const buf = Buffer.alloc(136);
      try { const fd = fs.openSync(path + '-shm', 'r'); fs.readSync(fd, buf, 0, 136, 0); fs.closeSync(fd); } catch { buf.fill(0); }
      process.stdout.write(buf);
    } else if (cmd === 'read') {
      try { read(Number(a[0]), Number(a[1]), Number(a[2]), Number(a[3]), a[4]); } catch (e) { fail(String(e && e.message)); }
    }
  }
});
process.stdin.on('end', () => { if (!process.exitCode) process.stdin.destroy(); });
process.stdout._handle?.setBlocking?.(true);
process.stdout.write('R');
`;

/** A running page reader: ask for the -shm header, then stream the pages. */
export class PageReaderProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly out: AsyncIterator<Buffer>;
  private held: Buffer = Buffer.alloc(0);
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(path: string) {
    this.child = spawn(process.execPath, ['-e', SOURCE, path], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code) => resolve(code));
      this.child.on('error', () => resolve(-1));
    });
    this.out = this.child.stdout[Symbol.asyncIterator]();
  }

  /** Starts the reader for the database at `path` and waits until it is ready. */
  static async start(path: string): Promise<PageReaderProcess> {
    const reader = new PageReaderProcess(path);
    try {
      if ((await reader.take(1))[0] !== 0x52) throw new Error('the page reader printed something else than its ready mark');
      return reader;
    } catch (err) {
      reader.stop();
      throw err;
    }
  }

  /** The first 136 bytes of the -shm file (the wal-index header and checkpoint info), zeros when there is none. */
  async shmHeader(): Promise<Buffer> {
    this.child.stdin.write('shm\n');
    return this.take(136);
  }

  /** The snapshot's pages (see the protocol above), in chunks of whole pages. */
  async *pages(pageSize: number, pageCount: number, wal: { nBackfill: number; mxFrame: number; salt: Buffer } | undefined, signal: AbortSignal): AsyncGenerator<Buffer> {
    const w = wal ?? { nBackfill: 0, mxFrame: 0, salt: Buffer.alloc(8) };
    this.child.stdin.write(`read ${pageSize} ${pageCount} ${w.nBackfill} ${w.mxFrame} ${w.salt.toString('hex')}\n`);
    let left = pageCount * pageSize;
    while (left > 0) {
      signal.throwIfAborted();
      const want = Math.min(left, 1 << 20);
      let chunk = await this.take(want, true);
      while (chunk.length < pageSize) chunk = Buffer.concat([chunk, await this.take(want - chunk.length, true)]);
      const whole = chunk.length - (chunk.length % pageSize);
      if (whole < chunk.length) this.held = Buffer.concat([chunk.subarray(whole), this.held]);
      left -= whole;
      yield chunk.subarray(0, whole);
    }
    const code = await this.exited;
    if (code !== 0) throw this.failure(code);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }

  /** `n` bytes exactly, or with `upTo` whatever arrived next (at most `n`). */
  private async take(n: number, upTo = false): Promise<Buffer> {
    while (this.held.length < (upTo ? 1 : n)) {
      const next = await this.out.next();
      if (next.done) throw this.failure(await this.exited);
      this.held = this.held.length ? Buffer.concat([this.held, next.value]) : next.value;
    }
    const size = Math.min(n, this.held.length);
    const out = this.held.subarray(0, size);
    this.held = this.held.subarray(size);
    return out;
  }

  private failure(code: number | null): DbBackupError {
    return new DbBackupError('E_BACKUP_FAILED', `Reading the database's pages failed (${this.stderr.trim() || `the reader exited with ${String(code)}`}); retry the backup.`);
  }
}
