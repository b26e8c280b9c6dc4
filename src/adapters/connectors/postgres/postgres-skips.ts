import type { Manifest } from '../../../domain/manifest.js';
import type { TocItem } from './postgres-toc.js';

/** One object a restore left out, and why. */
export interface SkippedObject {
  /** `<kind> <name>`, e.g. `function public.f(integer)`. */
  object: string;
  reason: string;
}

/**
 * The objects a restore skips: one that failed on the target (or that the backup marks as not
 * reproducible), and every item that depends on it, through the TOC's dependencies, since those
 * would fail for want of it (pg_restore instead runs them and reports each error).
 */
export class SkipList {
  readonly skipped: SkippedObject[] = [];
  private readonly ids = new Set<number>();
  private readonly dependents = new Map<number, TocItem[]>();

  constructor(items: TocItem[]) {
    for (const item of items) {
      for (const d of item.deps) {
        const list = this.dependents.get(d);
        if (list) list.push(item);
        else this.dependents.set(d, [item]);
      }
    }
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.skipped.length;
  }

  /** Skips `item` for `reason` and every item that needs it; returns the ids newly skipped. */
  skip(item: TocItem, reason: string): number[] {
    if (this.ids.has(item.id)) return [];
    const out = [item.id];
    this.ids.add(item.id);
    this.skipped.push({ object: label(item), reason });
    const stack: { item: TocItem; via: TocItem }[] = (this.dependents.get(item.id) ?? []).map((d) => ({ item: d, via: item }));
    while (stack.length) {
      const { item: next, via } = stack.pop()!;
      if (this.ids.has(next.id)) continue;
      this.ids.add(next.id);
      out.push(next.id);
      this.skipped.push({ object: label(next), reason: `it needs ${label(via)}, which was skipped` });
      for (const d of this.dependents.get(next.id) ?? []) stack.push({ item: d, via: next });
    }
    return out;
  }

  /** Notes a part of an object that could not be applied (its owner, its grants): nothing depends on it. */
  note(object: string, reason: string): void {
    this.skipped.push({ object, reason });
  }

  /** One line per skipped object, for warnings and messages. */
  lines(): string[] {
    return this.skipped.map((s) => `${s.object}: ${s.reason}`);
  }
}

export function label(item: Pick<TocItem, 'kind' | 'name'>): string {
  return `${item.kind} ${item.name.replace(/\s+/g, ' ')}`;
}

/** The first line of a server error, without a trailing period (for "skipped: …" lines). */
export function reasonOf(err: unknown): string {
  const message = String((err as Error)?.message ?? err).split('\n')[0]!;
  return message.replace(/\.$/, '');
}

/** What the dump records of the objects it marks as not reproducible (manifest engineInfo.notReproducible). */
export function notReproducible(items: TocItem[]): SkippedObject[] {
  const skips = new SkipList(items);
  for (const item of items) if (item.skip) skips.skip(item, item.skip);
  return skips.skipped;
}

/** --dry-run: the objects a restore of this backup would skip, as the backup marks them (a failure on the target cannot be known here). */
export function skipWarnings(manifest: Pick<Manifest, 'engineInfo'>, strict: boolean): string[] {
  const listed = manifest.engineInfo.notReproducible;
  if (!Array.isArray(listed) || listed.length === 0) return [];
  const lines = (listed as SkippedObject[]).map((s) => `would skip ${String(s.object)}: ${String(s.reason)}`);
  return strict ? [...lines, `--strict: the restore would fail, since the backup holds ${listed.length} object(s) it would have to skip.`] : lines;
}
