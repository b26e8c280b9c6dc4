import type { Connection } from 'pg';

/** Protocol message codes the raw COPY readers recognise (the rest go back to pg's parser). */
export const COPY_DATA = 0x64; // 'd'
export const COPY_DONE = 0x63; // 'c'
export const NOTICE = 0x4e; // 'N'
export const PARAMETER_STATUS = 0x53; // 'S'
export const NOTIFICATION = 0x41; // 'A'

export type DataHandler = (chunk: Buffer) => void;
export interface SocketLike {
  listeners(event: 'data'): DataHandler[];
  removeListener(event: 'data', fn: DataHandler): void;
  on(event: 'data', fn: DataHandler): void;
  pause(): void;
  resume(): void;
  write(chunk: Buffer): boolean;
  destroy(): void;
  readonly destroyed: boolean;
}

/** The libuv stream under a Node socket (internal: `_handle`, as Node's net module drives it). */
interface StreamHandle {
  reading?: boolean;
  readStop(): number;
  readStart(): number;
}

function streamHandle(socket: SocketLike): StreamHandle | undefined {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;
}

/**
 * The connection's socket read by `ours` instead of pg's parser while a COPY runs: `take` swaps the
 * data listener and sends the query, `giveBack` restores pg's parser and hands it the bytes not yet
 * read (CopyDone's tail, an ErrorResponse), resuming a paused socket first.
 */
export class SocketTakeover {
  socket: SocketLike | undefined;
  /** The handle pause() stopped reading, for resume(). */
  private stoppedHandle: StreamHandle | undefined;
  private pgHandler: DataHandler | undefined;

  constructor(
    private readonly what: string,
    private readonly ours: DataHandler,
  ) {}

  /** Called from a Submittable's submit(): take the socket over, then send the query. */
  take(connection: Connection, text: string): void {
    const socket = (connection as unknown as { stream: SocketLike }).stream;
    const handlers = socket.listeners('data');
    if (handlers.length !== 1) throw new Error(`${this.what} expects one data listener on the connection, found ${handlers.length}`);
    this.socket = socket;
    this.pgHandler = handlers[0]!;
    socket.removeListener('data', this.pgHandler);
    socket.on('data', this.ours);
    (connection as unknown as { query(text: string): void }).query(text);
  }

  /** Gives the socket back to pg's parser, starting with `rest`; `paused` says the socket was paused by us. */
  /**
   * Stops reading the socket at once: a paused stream would read on into its own buffer (up to its
   * high-water mark, a read per message for small messages), so libuv's reading stops too, where the
   * socket has a handle that can (Node's net and TLS sockets), until resume() starts it again.
   */
  pause(): void {
    const socket = this.socket;
    if (!socket) return;
    socket.pause();
    const handle = streamHandle(socket);
    if (handle?.reading && typeof handle.readStop === 'function' && typeof handle.readStart === 'function') {
      handle.reading = false;
      this.stoppedHandle = handle.readStop() === 0 ? handle : undefined;
      if (!this.stoppedHandle) handle.reading = true;
    }
  }

  resume(): void {
    const socket = this.socket;
    if (!socket) return;
    const handle = this.stoppedHandle;
    this.stoppedHandle = undefined;
    // As Node's own tryReadStart (the stream's _read is not called again while it still counts a read as pending).
    if (handle && handle === streamHandle(socket) && !handle.reading && !socket.destroyed) {
      handle.reading = true;
      handle.readStart();
    }
    socket.resume();
  }

  giveBack(rest: Buffer, paused: boolean): void {
    const socket = this.socket!;
    socket.removeListener('data', this.ours);
    socket.on('data', this.pgHandler!);
    if (paused) this.resume();
    if (rest.length) this.pgHandler!(rest);
  }
}
