import { describe, expect, it } from 'vitest';
import { chooseParent } from '../../../src/domain/chain-parent.js';
import { type DbBackupError, exitCodeFor } from '../../../src/domain/errors.js';
import { ids, member } from './chain-fixtures.js';

function refusal(run: () => unknown): DbBackupError {
  try {
    run();
  } catch (err) {
    return err as DbBackupError;
  }
  throw new Error('no error');
}

describe('chooseParent', () => {
  const f1 = member('2026-01-01T00:00:00Z', 'full', null);
  const i1 = member('2026-01-01T06:00:00Z', 'incremental', f1);
  const d1 = member('2026-01-02T00:00:00Z', 'differential', f1);
  const i2 = member('2026-01-02T06:00:00Z', 'incremental', d1);
  const f2 = member('2026-01-03T00:00:00Z', 'full', null);

  it('gives a full no parent', () => {
    expect(chooseParent('full', [])).toBeNull();
    expect(chooseParent('full', [f1, i1])).toBeNull();
  });

  it('parents an incremental on the newest backup of any kind, with its chain and base full', () => {
    const choice = chooseParent('incremental', [i2, f1, d1, i1])!;
    expect(choice.parent.id).toBe(i2.id);
    expect(choice.baseFull.id).toBe(f1.id);
    expect(ids(choice.chain)).toEqual([f1.id, d1.id, i2.id]);
    expect(chooseParent('incremental', [f1, i1, d1, i2, f2])!.parent.id).toBe(f2.id);
  });

  it('parents a differential on the newest full, not on newer incrementals', () => {
    const choice = chooseParent('differential', [f1, i1, d1, i2])!;
    expect(choice.parent.id).toBe(f1.id);
    expect(ids(choice.chain)).toEqual([f1.id]);
    expect(chooseParent('differential', [f1, i1, f2, i2])!.parent.id).toBe(f2.id);
  });

  it('never parents on a continuous log segment', () => {
    const seg = member('2026-01-02T07:00:00Z', 'incremental', i2, { continuous: true, tag: 'seg1' });
    expect(chooseParent('incremental', [f1, d1, i2, seg])!.parent.id).toBe(i2.id);
  });

  it('fails with E_NO_PARENT (exit 1) naming what is missing and the fix', () => {
    expect(exitCodeFor('E_NO_PARENT')).toBe(1);
    const none = refusal(() => chooseParent('incremental', []));
    expect(none.code).toBe('E_NO_PARENT');
    expect(none.message).toMatch(/no complete backup/);
    expect(none.message).toContain('--type full');
    expect(none.message).toContain('--auto-full');
    const noFull = refusal(() => chooseParent('differential', [member('2026-01-01T06:00:00Z', 'incremental', 'x')]));
    expect(noFull.code).toBe('E_NO_PARENT');
    expect(noFull.message).toMatch(/differential backup of "app" needs a parent.*no complete full backup/);
  });

  it('refuses a newest backup whose chain is broken, naming the missing link, instead of using an older one', () => {
    const gone = '2026-01-02T00:00:00Z';
    const orphan = member('2026-01-02T06:00:00Z', 'incremental', member(gone, 'differential', f1));
    const err = refusal(() => chooseParent('incremental', [f1, i1, orphan]));
    expect(err.code).toBe('E_NO_PARENT');
    expect(err.message).toContain(orphan.id);
    expect(err.message).toContain(d1.id); // the missing link
    expect(err.details).toMatchObject({ parent: orphan.id, missing: d1.id });
    expect(err.message).toContain('--auto-full');
  });

  it('refuses a malformed chain (a differential on an incremental)', () => {
    const bad = member('2026-01-01T12:00:00Z', 'differential', i1);
    const err = refusal(() => chooseParent('incremental', [f1, i1, bad]));
    expect(err.code).toBe('E_NO_PARENT');
    expect(err.message).toMatch(/cannot follow its parent/);
  });
});
