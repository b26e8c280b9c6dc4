import { DbBackupError } from './errors.js';

/**
 * A parsed cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with a
 * leading seconds field, or a macro (@hourly, @daily/@midnight, @weekly, @monthly,
 * @yearly/@annually). Fields take `*`, `?` (day fields), numbers, `a-b` ranges, `/step`, lists
 * and JAN–DEC / SUN–SAT names; day-of-week 7 is Sunday. As in Vixie cron, when both day fields
 * are restricted a day matching either one matches.
 */
export interface CronExpression {
  readonly source: string;
  readonly seconds: readonly boolean[];
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  readonly days: readonly boolean[];
  readonly months: readonly boolean[];
  readonly weekdays: readonly boolean[];
  readonly dayRestricted: boolean;
  readonly weekdayRestricted: boolean;
  /** The hour field is `*`: the schedule follows real time across DST changes (see schedule-time.ts). */
  readonly everyHour: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 0 1 1 *',
  '@annually': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *',
  '@midnight': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** First name maps to this number (months are 1-based). */
  nameBase?: number;
  question?: boolean;
}

const FIELDS: FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, question: true },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day-of-week', min: 0, max: 7, names: WEEKDAYS, nameBase: 0, question: true },
];

class CronSyntax extends Error {}

/** Parses `text`; throws E_USAGE naming what is wrong (the reason is also in `details.reason`). */
export function parseCron(text: string): CronExpression {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof CronSyntax)) throw err;
    throw new DbBackupError(
      'E_USAGE',
      `Invalid cron expression "${text}": ${err.message}. Use 5 fields (minute hour day-of-month month day-of-week), ` +
        '6 with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly.',
      { details: { reason: err.message } },
    );
  }
}

/** Why `text` is not a valid cron expression, or undefined when it is. */
export function cronProblem(text: string): string | undefined {
  try {
    parse(text);
    return undefined;
  } catch (err) {
    if (err instanceof CronSyntax) return err.message;
    throw err;
  }
}

function parse(text: string): CronExpression {
  const trimmed = text.trim();
  if (trimmed === '') throw new CronSyntax('it is empty');
  let fields: string[];
  if (trimmed.startsWith('@')) {
    const macro = MACROS[trimmed.toLowerCase()];
    if (!macro) throw new CronSyntax(`unknown macro ${trimmed} (known: ${Object.keys(MACROS).join(', ')})`);
    fields = macro.split(' ');
  } else {
    fields = trimmed.split(/\s+/);
    if (fields.length === 5) fields = ['0', ...fields];
    else if (fields.length !== 6) throw new CronSyntax(`it has ${fields.length} fields; expected 5, or 6 with seconds`);
  }
  const sets = fields.map((f, i) => parseField(f, FIELDS[i]!));
  const weekdays = sets[5]!;
  if (weekdays[7]) weekdays[0] = true;
  const expr: CronExpression = {
    source: trimmed,
    seconds: sets[0]!,
    minutes: sets[1]!,
    hours: sets[2]!,
    days: sets[3]!,
    months: sets[4]!,
    weekdays: weekdays.slice(0, 7),
    dayRestricted: !isWildcard(fields[3]!),
    weekdayRestricted: !isWildcard(fields[5]!),
    everyHour: isWildcard(fields[2]!),
  };
  if (expr.dayRestricted && !expr.weekdayRestricted && !canEverMatchDay(expr)) {
    throw new CronSyntax('no month in the month field has any of the days in the day-of-month field, so it never runs');
  }
  return expr;
}

function isWildcard(field: string): boolean {
  return field === '*' || field === '?';
}

function parseField(field: string, spec: FieldSpec): boolean[] {
  const set = new Array<boolean>(spec.max + 1).fill(false);
  if (field === '?' && spec.question) {
    for (let v = spec.min; v <= spec.max; v++) set[v] = true;
    return set;
  }
  for (const item of field.split(',')) {
    if (item === '') throw new CronSyntax(`the ${spec.name} field "${field}" has an empty list item`);
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined) throw new CronSyntax(`the ${spec.name} field item "${item}" has more than one "/"`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1 || !/^\d+$/.test(stepText ?? '1')) {
      throw new CronSyntax(`the ${spec.name} field step "${stepText}" must be a whole number of at least 1`);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = spec.min;
      hi = spec.name === 'day-of-week' ? 6 : spec.max;
    } else {
      const [a, b, more] = range!.split('-');
      if (more !== undefined) throw new CronSyntax(`the ${spec.name} field range "${range}" has more than one "-"`);
      lo = value(a!, spec);
      hi = b === undefined ? (stepText === undefined ? lo : spec.name === 'day-of-week' ? 6 : spec.max) : value(b, spec);
      if (hi < lo) throw new CronSyntax(`the ${spec.name} field range "${range}" runs backwards`);
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return set;
}

function value(text: string, spec: FieldSpec): number {
  if (text === '') throw new CronSyntax(`the ${spec.name} field has a range with a missing end`);
  const named = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) {
    throw new CronSyntax(`"${text}" is not a number${spec.names ? ' or a name' : ''} in the ${spec.name} field`);
  }
  const n = Number(text);
  if (n < spec.min || n > spec.max) throw new CronSyntax(`${n} is out of range ${spec.min}-${spec.max} in the ${spec.name} field`);
  return n;
}

function canEverMatchDay(expr: CronExpression): boolean {
  for (let m = 1; m <= 12; m++) {
    if (!expr.months[m]) continue;
    for (let d = 1; d <= DAYS_IN_MONTH[m - 1]!; d++) if (expr.days[d]) return true;
  }
  return false;
}

function dayMatches(expr: CronExpression, year: number, month: number, day: number): boolean {
  const byDay = expr.days[day] === true;
  const byWeekday = expr.weekdays[new Date(Date.UTC(year, month - 1, day)).getUTCDay()] === true;
  if (expr.dayRestricted && expr.weekdayRestricted) return byDay || byWeekday;
  if (expr.dayRestricted) return byDay;
  if (expr.weekdayRestricted) return byWeekday;
  return true;
}

/** How far ahead a search looks: a Feb 29 schedule can wait 8 years (2096 → 2104). */
const HORIZON_MS = 9 * 366 * 86_400_000;

/**
 * The first wall-clock time at or after `wall` (milliseconds of a zone-less calendar: a local
 * date and time written as if it were UTC) that matches, whole seconds; undefined if none within
 * the horizon. Pure calendar arithmetic: time zones are schedule-time.ts's business.
 */
export function nextWallTime(expr: CronExpression, wall: number): number | undefined {
  let t = Math.ceil(wall / 1000) * 1000;
  const limit = t + HORIZON_MS;
  while (t <= limit) {
    const d = new Date(t);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    const hour = d.getUTCHours();
    const minute = d.getUTCMinutes();
    if (!expr.months[month]) t = Date.UTC(year, month, 1);
    else if (!dayMatches(expr, year, month, day)) t = Date.UTC(year, month - 1, day + 1);
    else if (!expr.hours[hour]) t = Date.UTC(year, month - 1, day, hour + 1);
    else if (!expr.minutes[minute]) t = Date.UTC(year, month - 1, day, hour, minute + 1);
    else if (!expr.seconds[d.getUTCSeconds()]) t += 1000;
    else return t;
  }
  return undefined;
}
