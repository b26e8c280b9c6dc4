import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '../application/ports/logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Keys whose values are secrets wherever they appear in a log record. */
export const SECRET_KEYS = ['password', 'passphrase', 'secret', 'token', 'key', 'apiKey', 'accessKey', 'secretAccessKey', 'connectionString', 'authorization'];

const redactPaths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

class PinoLogger implements Logger {
  constructor(private readonly log: Pino) {}
  debug(msg: string, fields: Record<string, unknown> = {}): void {
    this.log.debug(fields, msg);
  }
  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.log.info(fields, msg);
  }
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.log.warn(fields, msg);
  }
  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.log.error(fields, msg);
  }
  child(fields: Record<string, unknown>): Logger {
    return new PinoLogger(this.log.child(fields));
  }
}

/**
 * JSON lines to stderr (for pipes and --json), or short readable lines on a terminal. Secrets are
 * redacted by key, whatever the caller passes.
 */
export function createLogger(options: { level: LogLevel; json: boolean; stream?: NodeJS.WritableStream }): Logger {
  const stream = options.stream ?? process.stderr;
  const readable = !options.json && (stream as NodeJS.WriteStream).isTTY === true;
  const destination = readable
    ? {
        write(line: string) {
          const rec = JSON.parse(line) as Record<string, unknown>;
          const { level, msg, time: _t, pid: _p, hostname: _h, module, ...rest } = rec;
          const extra = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          stream.write(`${String(level)}${module ? ` [${String(module)}]` : ''}: ${String(msg)}${extra ? `  ${extra}` : ''}\n`);
        },
      }
    : stream;
  const log = pino(
    {
      level: options.level,
      base: { module: 'cli' },
      redact: { paths: redactPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as NodeJS.WritableStream,
  );
  return new PinoLogger(log);
}
