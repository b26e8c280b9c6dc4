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

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };
const SECRET = new Set(SECRET_KEYS);
/** How deep under the record a secret key is censored: the record's own keys and two levels below (pino's `k`, `*.k`, `*.*.k`). */
const SECRET_DEPTH = 2;

/**
 * JSON lines in the shape pino wrote them (level label, ISO time, module and pid, the child's
 * bindings, the fields, msg last), written by a few lines of code: loading pino (and the
 * sonic-boom, thread-stream, worker_threads, assert and diagnostics_channel it requires when it
 * loads, and the redaction functions it compiles for every logger) was a sizeable share of every
 * command that logs a line. Secret keys are censored here; every line also passes through
 * `redact()` (secret values under any key or inside messages) in the destination.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly destination: { write(raw: string): void },
    private readonly min: number,
    /** The child's bindings, serialized once: `,"k":v` each, or ''. */
    private readonly bindings = '',
  ) {}

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }
  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.destination, this.min, this.bindings + members(fields));
  }

  private write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (LEVELS[level] < this.min) return;
    const head = `{"level":"${level}","time":"${new Date().toISOString()}","module":"cli","pid":${process.pid}`;
    this.destination.write(`${head}${this.bindings}${members(fields)},"msg":${stringify(String(msg))}}\n`);
  }
}

/** `,"k":v` for each field whose value JSON has (undefined ones are left out, as JSON.stringify does), secret keys censored. */
function members(fields: Record<string, unknown>): string {
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    const value = SECRET.has(k) ? '[redacted]' : censor(v, 1);
    const json = stringify(value);
    if (json !== undefined) out += `,${JSON.stringify(k)}:${json}`;
  }
  return out;
}

/** A copy of `value` with secret keys censored down to SECRET_DEPTH (arrays' items count as a level, as pino's wildcard). */
function censor(value: unknown, depth: number): unknown {
  if (depth > SECRET_DEPTH || value === null || typeof value !== 'object' || value instanceof Date || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map((v) => censor(v, depth + 1));
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET.has(k) ? '[redacted]' : censor(v, depth + 1);
  return out;
}

/** JSON.stringify that never throws: a cycle becomes "[Circular]", a bigint its digits. */
function stringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v !== null && typeof v === 'object') {
        if (seen.has(v)) return '[Circular]';
        seen.add(v);
      }
      return v;
    });
  }
}

/** Where log files go by default (kept in paths.ts). */
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
 * given, a rotating JSON-lines file at `fileLevel`. Secret keys are censored by JsonLogger,
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
  return new JsonLogger(destination, min);
}
