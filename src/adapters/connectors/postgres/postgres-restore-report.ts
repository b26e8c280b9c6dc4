import type { RestoreOutcome } from '../../../application/ports/restore-plan.js';
import { DbBackupError, ExitCode, isDbBackupError } from '../../../domain/errors.js';
import type { Task } from './postgres-load.js';
import type { SkipList } from './postgres-skips.js';
import type { TocItem } from './postgres-toc.js';

/** How a PostgreSQL restore reports itself: what was restored when it fails, what it skipped when it ends partial. */

/** What happened so far, so that a failure can say exactly what was and was not restored. */
export class Ledger {
  createdDatabase = false;
  preData = false;
  /** --strict: a failure undoes the restore (drops the database it created, or what it created in it). */
  undone = false;
  readonly tablesDone: string[] = [];
  readonly postDone: string[] = [];
  readonly partial: string[] = [];
  constructor(
    readonly target: string,
    public tables: string[],
    public post: TocItem[],
  ) {}

  /** Notes finished tasks: a table counts as restored once all its parts are in. */
  record(done: Task[], tableOf: Map<number, string>, postNames: Map<number, string>): void {
    const left = new Map<string, number>();
    for (const object of tableOf.values()) left.set(object, (left.get(object) ?? 0) + 1);
    for (const t of done) {
      const object = tableOf.get(t.id);
      if (object !== undefined) left.set(object, left.get(object)! - 1);
      else if (postNames.has(t.id)) this.postDone.push(postNames.get(t.id)!);
    }
    for (const [object, n] of left) {
      const total = [...tableOf.values()].filter((o) => o === object).length;
      if (n === 0) this.tablesDone.push(object);
      else if (n < total) this.partial.push(`${object} (${total - n} of ${total} parts)`);
    }
  }

  failure(step: string, err: unknown): DbBackupError {
    const cause = isDbBackupError(err) ? err.message : String((err as Error)?.message ?? err);
    const notLoaded = this.tables.filter((t) => !this.tablesDone.includes(t));
    const postLeft = this.post.filter((p) => !this.postDone.includes(p.name)).map((p) => `${p.kind} ${p.name}`);
    const list = (xs: string[]) => (xs.length > 10 ? `${xs.slice(0, 10).join(', ')} and ${xs.length - 10} more` : xs.join(', '));
    let state: string;
    if (this.undone) {
      state = this.createdDatabase
        ? `Nothing was restored (--strict): the database ${this.target} that --create made was dropped again.`
        : `Nothing was restored (--strict): every object the restore had created was dropped again.`;
    } else if (!this.preData) {
      state = `Nothing was restored (the schema step was rolled back)${this.createdDatabase ? `; the database ${this.target} was created and is empty` : ''}.`;
    } else {
      state =
        `Restored: the schema (tables, types, functions, views), data of ${this.tablesDone.length} of ${this.tables.length} tables` +
        `${this.postDone.length ? `, ${this.postDone.length} of ${this.post.length} indexes/constraints/triggers` : ''}. ` +
        (this.partial.length ? `Partly loaded: ${list(this.partial)}. ` : '') +
        (notLoaded.length ? `Not restored: data of ${list(notLoaded)}. ` : '') +
        (postLeft.length ? `Not built: ${list(postLeft)}. ` : '') +
        `The database is incomplete: fix the cause, then restore again with --clean (or into a new database).`;
    }
    // A part found damaged mid-restore (decoded bytes past their declared size) stays an integrity
    // failure (exit 4), and a connection gone silent a network timeout (exit 3).
    const code = isDbBackupError(err) && (err.exitCode === ExitCode.integrity || err.code === 'E_NETWORK_TIMEOUT') ? err.code : 'E_RESTORE_FAILED';
    return new DbBackupError(code, `Restore into ${this.target} failed at ${step}: ${cause.replace(/\.$/, '')}. ${state}`, {
      cause: err,
      details: { step, tablesRestored: this.tablesDone, tablesPartlyLoaded: this.partial, tablesNotRestored: notLoaded, postDataNotBuilt: postLeft, schemaRestored: this.preData },
    });
  }
}

export function subscriptionNote(item: TocItem): string {
  return (
    `The subscription ${item.name} was restored disabled and without a replication slot (connect = false, as pg_dump does); ` +
    `to start it, create the slot on the publisher (or ALTER SUBSCRIPTION ${item.name} SET (slot_name = …)), then ALTER SUBSCRIPTION ${item.name} ENABLE ` +
    `and ALTER SUBSCRIPTION ${item.name} REFRESH PUBLICATION.`
  );
}

/** --strict before anything changed: the backup itself marks objects as not reproducible. */
export function strictRefusal(skips: SkipList, target: string): DbBackupError {
  return new DbBackupError(
    'E_RESTORE_FAILED',
    `Restore into ${target} refused (--strict): the backup holds objects dbbackup cannot reproduce, which a restore would skip:\n  ${skips.lines().join('\n  ')}\nNothing was restored; restore without --strict to skip them.`,
    { details: { skipped: skips.skipped } },
  );
}

/** The restore finished without some objects: E_PARTIAL (exit 5), naming each and what was restored. */
export function partialRestore(skips: SkipList, target: string, restored: RestoreOutcome): DbBackupError {
  const notes = (restored.warnings ?? []).map((w) => `\nwarning: ${w}`).join('');
  return new DbBackupError(
    'E_PARTIAL',
    `Restored into ${target}: ${restored.objects.length} objects, ${restored.rows} rows, without ${skips.size} object(s) that failed on the target or need one that did:\n  ` +
      `${skips.lines().join('\n  ')}\nFix the cause (a missing library or extension, say) and restore again with --clean, or pass --strict to refuse a partial restore.${notes}`,
    { details: { skipped: skips.skipped, objects: restored.objects, rows: restored.rows, warnings: [...(restored.warnings ?? []), ...skips.lines().map((l) => `skipped ${l}`)] } },
  );
}

