import { Cron, type CronOptions } from 'croner';
import { DbBackupError } from './errors.js';

/**
 * A checked cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with a
 * leading seconds field, or a macro (@hourly, @daily/@midnight, @weekly, @monthly,
 * @yearly/@annually), in croner's syntax (numbers, `a-b`, `/step`, lists, JAN–DEC / SUN–SAT, `?`,
 * and croner's L, W, # and + day modifiers); day-of-week 7 is Sunday. As in Vixie cron, when both
 * day fields are restricted a day matching either one matches. Zone-less: schedule-time.ts
 * computes its firings in a zone.
 */
export interface CronExpression {
  /** The expression as given, trimmed. */
  readonly source: string;
}

/**
 * How croner reads our expressions (croner is used for calculation only: a Cron built without a
 * callback never starts a timer). `no-wildcard`: a time field list such as `0,30 2 * * *` is a
 * fixed-time job at DST changes, like a single value (see schedule-time.ts).
 */
export const CRON_OPTIONS: CronOptions = { mode: '5-or-6-parts', sloppyRanges: true, fixedTimeRule: 'no-wildcard', domAndDow: false };

const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** Our field names and ranges, seconds first (croner's entry order), for error messages. */
const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, named: true },
  { name: 'day-of-week', min: 0, max: 7, named: true },
];

/** Any instant: a pattern with no firing after it never fires (croner looks years ahead). */
const REFERENCE = new Date(Date.UTC(2000, 0, 1));

/** Parses `text`; throws E_USAGE naming what is wrong (the reason is also in `details.reason`). */
export function parseCron(text: string): CronExpression {
  const reason = cronProblem(text);
  if (reason === undefined) return { source: text.trim() };
  throw new DbBackupError(
    'E_USAGE',
    `Invalid cron expression "${text}": ${reason}. Use 5 fields (minute hour day-of-month month day-of-week), ` +
      '6 with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly.',
    { details: { reason } },
  );
}

/** Why `text` is not a valid cron expression, or undefined when it is. */
export function cronProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return 'it is empty';
  if (trimmed.startsWith('@')) {
    return MACROS.includes(trimmed.toLowerCase()) ? undefined : `unknown macro ${trimmed} (known: ${MACROS.join(', ')})`;
  }
  const given = trimmed.split(/\s+/);
  if (given.length !== 5 && given.length !== 6) return `it has ${given.length} fields; expected 5, or 6 with seconds`;
  const fields = given.length === 5 ? ['0', ...given] : given;
  const problem = croner(fields.join(' '));
  if (problem !== undefined) {
    // croner names no field (or names it its own way): find it by trying each field alone.
    const i = fields.findIndex((_, k) => croner(fields.map((f, j) => (j === k ? f : '*')).join(' ')) !== undefined);
    return i < 0 ? problem.replace(/^CronPattern: /, '') : fieldProblem(problem, FIELDS[i]!, fields[i]!);
  }
  if (new Cron(trimmed, CRON_OPTIONS).nextRun(REFERENCE) === null) {
    return 'no month in the month field has any of the days in the day-of-month field, so it never runs';
  }
  return undefined;
}

/** croner's complaint about `pattern`, or undefined when it takes it. */
function croner(pattern: string): string | undefined {
  try {
    new Cron(pattern, CRON_OPTIONS);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** croner's message about one field, in our words (which the tests and users know). */
function fieldProblem(message: string, spec: (typeof FIELDS)[number], field: string): string {
  const where = `the ${spec.name} field`;
  const outOfRange = field.match(/\d+/g)?.map(Number).find((n) => n < spec.min || n > spec.max);
  if (/Invalid value for/.test(message) && outOfRange !== undefined) return `${outOfRange} is out of range ${spec.min}-${spec.max} in ${where}`;
  const backwards = /larger than to value: '(.*)'/.exec(message);
  if (backwards) return `${where} range "${backwards[1]}" runs backwards`;
  const step = field.split(',').map((item) => item.split('/')[1]).find((s) => s !== undefined && !/^[1-9]\d*$/.test(s));
  if (/illegal stepping/.test(message) && step !== undefined) return `${where} step "${step}" must be a whole number of at least 1`;
  if (/steps cannot be greater/.test(message)) return `${where} "${field}" steps by more than the field's range ${spec.min}-${spec.max}`;
  if (/is empty/.test(message)) return `${where} "${field}" has an empty list item`;
  if (/illegal characters|is not a number/.test(message)) return `"${field}" is not a number${spec.named ? ' or a name' : ''} in ${where}`;
  return `${where} "${field}": ${message.replace(/^CronPattern: (Syntax error, )?/, '')}`;
}
