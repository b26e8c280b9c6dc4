import type { z } from 'zod';

/** Edit distance, for "did you mean". */
export function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export function suggest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

type AnySchema = z.ZodType & { _zod: { def: Record<string, unknown> } };

/** The keys an object schema at `path` allows (walking objects, records, arrays and wrappers). */
export function allowedKeys(schema: z.ZodType, path: PropertyKey[]): string[] {
  let s: AnySchema | undefined = schema as AnySchema;
  const unwrap = () => {
    for (let i = 0; s && i < 10; i++) {
      const def: Record<string, unknown> = s._zod.def;
      if (def.innerType) s = def.innerType as AnySchema;
      else if (def.type === 'pipe' && def.out) s = def.out as AnySchema;
      else break;
    }
  };
  for (const key of path) {
    unwrap();
    if (!s) return [];
    const def: Record<string, unknown> = s._zod.def;
    if (def.type === 'object') s = (def.shape as Record<string, AnySchema>)[String(key)];
    else if (def.type === 'record') s = def.valueType as AnySchema;
    else if (def.type === 'array') s = def.element as AnySchema;
    else return [];
  }
  unwrap();
  return s && s._zod.def.type === 'object' ? Object.keys(s._zod.def.shape as object) : [];
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v = root;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

/** One line per problem: `profiles.prod.sources.main.port: expected a number, got "54x2"`. */
export function formatIssues(issues: z.core.$ZodIssue[], schema: z.ZodType, input: unknown): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const where = issue.path.map(String).join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(schema, issue.path);
      for (const key of issue.keys) {
        const hint = suggest(key, allowed);
        const at = issue.path.length ? `${where}.${key}` : key;
        lines.push(`${at}: unknown key${hint ? ` (did you mean "${hint}"?)` : allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
      }
    } else if (issue.code === 'invalid_type') {
      const got = valueAt(input, issue.path);
      lines.push(
        got === undefined
          ? `${where}: is required`
          : `${where}: expected ${article(String(issue.expected))}, got ${describe(got)}`,
      );
    } else if (issue.code === 'invalid_value' && 'values' in issue) {
      lines.push(`${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(valueAt(input, issue.path))}`);
    } else {
      lines.push(`${where}: ${issue.message}`);
    }
  }
  return lines;
}
