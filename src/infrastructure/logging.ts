import { createRequire } from 'node:module';
import type { Logger as Pino } from 'pino';
import type { Logger } from '../application/ports/logger.js';
import { redact } from './redact.js';
import type { RotatingFile } from './rotating-file.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Keys whose values are secrets wherever they appear in a log record. */
export const SECRET_KEYS = [
  'password',
  'passphrase',
  'secret',
  'token',
  'key',
  'apiKey',
  'accessKey',
  'secretAccessKey',
  'connectionString',
  'authorization',
  'masterKey',
];

const redactPaths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

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
 * A logger whose pino instance is made on the first record at or above `min` (the lower of the
 * console's and the file's levels): most runs log nothing that passes (a --quiet backup with no
 * log file), and loading pino is a sizeable share of a short command's start-up.
 */
class LazyLogger implements Logger {
  private real: Logger | undefined;

  constructor(
    private readonly make: () => Logger,
    private readonly min: number,
  ) {}

  private get log(): Logger {
    this.real ??= this.make();
    return this.real;
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS.debug >= this.min) this.log.debug(msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS.info >= this.min) this.log.info(msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS.warn >= this.min) this.log.warn(msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS.error >= this.min) this.log.error(msg, fields);
  }
  child(fields: Record<string, unknown>): Logger {
    return new LazyLogger(() => this.log.child(fields), this.min);
  }
}

/** Where log files go by default (kept in paths.ts so that finding it never loads pino). */
export { defaultLogDir } from './paths.js';

function readableLine(line: string): string {
  const rec = JSON.parse(line) as Record<string, unknown>;
  const { level, msg, time: _t, pid: _p, hostname: _h, module, ...rest } = rec;
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(level)}${module ? ` [${String(module)}]` : ''}: ${String(msg)}${extra ? `  ${extra}` : ''}\n`;
}

/**
 * Two sinks: the terminal/stderr at `level` (readable lines on a TTY, JSON otherwise) and, when
 * given, a rotating JSON-lines file at `fileLevel`. Secret keys are censored by pino's redaction,
 * and every line passes through `redact()` for secret values under any key or inside messages.
 */
export function createLogger(options: {
  level: LogLevel;
  json: boolean;
  stream?: NodeJS.WritableStream;
  file?: RotatingFile;
  fileLevel?: LogLevel;
}): Logger {
  const stream = options.stream ?? process.stderr;
  const readable = !options.json && (stream as NodeJS.WriteStream).isTTY === true;
  const consoleMin = LEVELS[options.level];
  const fileMin = LEVELS[options.fileLevel ?? 'info'];
  const destination = {
    write(raw: string) {
      const line = redact(raw);
      const level = /"level":"(\w+)"/.exec(line)?.[1] as LogLevel | undefined;
      const n = level ? LEVELS[level] : 30;
      if (n >= consoleMin) stream.write(readable ? readableLine(line) : line);
      if (options.file && n >= fileMin) options.file.write(line);
    },
  };
  const min = options.file ? Math.min(consoleMin, fileMin) : consoleMin;
  const level = (['debug', 'info', 'warn', 'error'] as LogLevel[]).find((l) => LEVELS[l] === min)!;
  return new LazyLogger(() => new PinoLogger(pinoLogger(level, destination)), min);
}

/**
 * pino (loaded now: CommonJS, so synchronously) writing JSON lines at `level` and above into
 * `destination`. In a bundle chunk `require` exists (its banner defines it) and this literal call
 * lets esbuild bundle pino and its helpers into the chunk: one file to load instead of ~30, half of
 * pino's load time. Elsewhere (tsc's output, tests) Node loads it from node_modules.
 */
function pinoLogger(level: LogLevel, destination: { write(raw: string): void }): Pino {
  const { pino } = (typeof require === 'function' ? require('pino') : createRequire(import.meta.url)('pino')) as typeof import('pino');
  return pino(
    {
      level,
      base: { module: 'cli', pid: process.pid },
      redact: { paths: redactPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as NodeJS.WritableStream,
  );
}
