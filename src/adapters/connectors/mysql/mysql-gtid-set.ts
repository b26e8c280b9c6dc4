/**
 * MySQL GTID sets, as @@GLOBAL.gtid_executed and SHOW BINARY LOG STATUS print them:
 * `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11-18,8a3b1d10-2222-11e1-9e33-c80aa9429562:1-2`
 * (a uuid, then closed intervals of transaction numbers; commas between uuids, whitespace and
 * newlines anywhere; uuids in any case). MySQL 8.4's tagged GTIDs (`uuid:tag:1-3`) keep their
 * intervals under `uuid:tag`; a tagged GTID is `uuid:tag:n`.
 * Keys are lower case, intervals sorted, merged and non-overlapping.
 */
export type GtidSet = Map<string, [bigint, bigint][]>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TAG = /^[a-z_][a-z0-9_]{0,31}$/;

/** A MySQL GTID `uuid:n` (or `uuid:tag:n`): its set key and number; undefined for anything else (MariaDB's `d-s-n`). */
export function parseMysqlGtid(gtid: string): { key: string; gno: bigint } | undefined {
  const parts = gtid.trim().toLowerCase().split(':');
  if (parts.length < 2 || parts.length > 3 || !UUID.test(parts[0]!) || !/^\d{1,19}$/.test(parts.at(-1)!)) return undefined;
  if (parts.length === 3 && !TAG.test(parts[1]!)) return undefined;
  const gno = BigInt(parts.at(-1)!);
  return gno > 0n ? { key: parts.slice(0, -1).join(':'), gno } : undefined;
}

/** Parses a GTID set; a malformed item throws a plain Error naming it (the caller gives it its code). */
export function parseGtidSet(text: string): GtidSet {
  const set: GtidSet = new Map();
  for (const item of text.replace(/\s+/g, '').toLowerCase().split(',')) {
    if (item === '') continue;
    const [uuid, ...rest] = item.split(':');
    if (!UUID.test(uuid!)) throw new Error(`not a MySQL GTID set item: "${item}"`);
    let key = uuid!;
    for (const r of rest) {
      if (TAG.test(r)) {
        key = `${uuid}:${r}`;
        continue;
      }
      const m = /^(\d{1,19})(?:-(\d{1,19}))?$/.exec(r);
      const lo = m ? BigInt(m[1]!) : 0n;
      const hi = m?.[2] !== undefined ? BigInt(m[2]) : lo;
      if (!m || lo < 1n || hi < lo) throw new Error(`not a MySQL GTID interval: "${r}" in "${item}"`);
      addInterval(set, key, lo, hi);
    }
  }
  return set;
}

/** Whether the set holds transaction `gtid` (`uuid:n`). */
export function containsGtid(set: GtidSet, gtid: string): boolean {
  const g = parseMysqlGtid(gtid);
  return g !== undefined && (set.get(g.key) ?? []).some(([lo, hi]) => lo <= g.gno && g.gno <= hi);
}

/** Adds `gtid` (`uuid:n`) to the set (in place); returns the set. */
export function addGtidTo(set: GtidSet, gtid: string): GtidSet {
  const g = parseMysqlGtid(gtid);
  if (g) addInterval(set, g.key, g.gno, g.gno);
  return set;
}

/** What `a` holds that `b` does not (a new set). */
export function subtractGtidSet(a: GtidSet, b: GtidSet): GtidSet {
  const out: GtidSet = new Map();
  for (const [key, ranges] of a) {
    let left = ranges.map(([lo, hi]) => [lo, hi] as [bigint, bigint]);
    for (const [blo, bhi] of b.get(key) ?? []) {
      left = left.flatMap(([lo, hi]): [bigint, bigint][] => {
        if (bhi < lo || blo > hi) return [[lo, hi]];
        const keep: [bigint, bigint][] = [];
        if (lo < blo) keep.push([lo, blo - 1n]);
        if (bhi < hi) keep.push([bhi + 1n, hi]);
        return keep;
      });
    }
    if (left.length > 0) out.set(key, left);
  }
  return out;
}

/** The set as MySQL prints it (uuids sorted, lower case; tags after their uuid's plain intervals). */
export function formatGtidSet(set: GtidSet): string {
  const byUuid = new Map<string, string[]>();
  for (const key of [...set.keys()].sort()) {
    const [uuid, tag] = key.split(':');
    const ranges = set.get(key)!.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`));
    const items = byUuid.get(uuid!) ?? [];
    items.push(...(tag ? [tag] : []), ...ranges);
    byUuid.set(uuid!, items);
  }
  return [...byUuid].map(([uuid, items]) => `${uuid}:${items.join(':')}`).join(',');
}

function addInterval(set: GtidSet, key: string, lo: bigint, hi: bigint): void {
  const ranges = [...(set.get(key) ?? []), [lo, hi] as [bigint, bigint]].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1] + 1n) last[1] = r[1] > last[1] ? r[1] : last[1];
    else merged.push([r[0], r[1]]);
  }
  set.set(key, merged);
}
