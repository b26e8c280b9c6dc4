import type mysql from 'mysql2/promise';

/*
 * How a MySQL connection ends: lost (the server restarted or ended the session), destroyed, or
 * closed politely — and what waits on it then (mysql-connection.ts opens them; its module
 * re-exports these for the connector's other modules).
 */

type MysqlConnection = mysql.Connection;

/** mysql2's connection internals that the handling of a lost connection reads. */
interface DriverState {
  _closing?: boolean;
  stream?: NodeJS.EventEmitter & { destroyed?: boolean; readableEnded?: boolean; destroy(err?: Error): void };
  _fatalError?: unknown;
  _protocolError?: unknown;
  _command?: WaitingCommand | null;
  _commands?: { shift(): WaitingCommand | undefined };
}

interface WaitingCommand {
  onResult?: (err: Error) => void;
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}

function driverState(conn: MysqlConnection): DriverState {
  return (conn as unknown as { connection: DriverState }).connection;
}

/**
 * Makes a lost connection fail what waits on it, at once:
 * - the server's FIN (it shut down, or ended the session) closes the socket then and there: a
 *   MySQL server never half-closes a session it goes on with;
 * - the commands still waiting when the socket closes fail with "Connection lost". mysql2 fails
 *   them itself, except on a connection that was closing (destroy(), or end() that gave up):
 *   there a running statement, a LOAD DATA say, waited forever for an answer that cannot come;
 * - an idle connection's loss is an 'error' event, which mysql2 emits again on a write after it:
 *   heard here (the next command fails with it anyway), so a second one cannot end the process.
 */
export function noticeLoss(conn: MysqlConnection): void {
  const core = driverState(conn);
  const stream = core.stream;
  conn.on('error', () => undefined);
  if (!stream) return;
  stream.once('end', () => {
    // Not after our own COM_QUIT: the server closing then is the answer.
    if (core._closing) stream.destroy();
    else stream.destroy(Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' }));
  });
  stream.once('close', () => {
    const waiting = [core._command];
    for (let cmd = core._commands?.shift(); cmd; cmd = core._commands?.shift()) waiting.push(cmd);
    core._command = null;
    for (const cmd of waiting) {
      if (!cmd) continue;
      const err = Object.assign(new Error('Connection lost: the connection closed before the server answered.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
      if (cmd.onResult) cmd.onResult(err);
      else if (cmd.listenerCount('error') > 0) cmd.emit('error', err);
    }
  });
}

/** Calls `listener` once the connection's socket has closed, for whatever reason. */
export function whenClosed(conn: MysqlConnection, listener: () => void): void {
  const stream = driverState(conn).stream;
  if (!stream || stream.destroyed) listener();
  else stream.once('close', listener);
}

/**
 * Whether the connection can carry no more commands: mysql2 saw it fail, or its socket closed or
 * the server ended it.
 */
export function connectionLost(conn: MysqlConnection): boolean {
  const core = driverState(conn);
  return Boolean(core._fatalError || core._protocolError || !core.stream || core.stream.destroyed || core.stream.readableEnded);
}

/**
 * Closes a connection at once, whatever it is doing. mysql2's destroy() only half-closes the socket:
 * a server busy writing a result to a paused connection never sees it, and the running query is
 * never settled; destroying the socket too ends both.
 */
export function destroyConnection(conn: MysqlConnection): void {
  conn.destroy();
  (conn as unknown as { connection: { stream?: { destroy?(): void } } }).connection.stream?.destroy?.();
}

/**
 * Ends a connection politely (COM_QUIT), but never hangs on it: a lost connection (connectionLost)
 * is destroyed at once, one left paused by stream backpressure is resumed first, and one that does
 * not close within 5 s (its socket closing ends the wait) is destroyed.
 */
export async function closeConnection(conn: MysqlConnection): Promise<void> {
  if (connectionLost(conn)) return destroyConnection(conn);
  (conn as unknown as { connection: { resume(): void } }).connection.resume();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), 5000);
    driverState(conn).stream?.once('close', () => resolve('late'));
  });
  const outcome = await Promise.race([conn.end().then(() => 'ok' as const, () => 'failed' as const), late]);
  clearTimeout(timer);
  if (outcome !== 'ok') destroyConnection(conn);
}
