import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BackupKind } from '../../../src/domain/backup-kind.js';
import { resolveChain } from '../../../src/domain/chain.js';
import { type ChainMember, restorableOf } from '../../../src/domain/chain-graph.js';
import { chooseParent } from '../../../src/domain/chain-parent.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { planChainRestore } from '../../../src/domain/restore-plan-chain.js';
import { restorableWindows } from '../../../src/domain/restorable-windows.js';
import { member } from './chain-fixtures.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3600e3;

type Step = { kind: BackupKind | 'segment'; replay: boolean; bytes: number };

/**
 * A repository as dbbackup would write it, one backup an hour: parents chosen by chooseParent
 * (segments follow the newest link), replayable links restorable from their parent's point; then
 * some backups deleted to break chains.
 */
function repository(steps: Step[], dropped: number[]): ChainMember[] {
  const out: ChainMember[] = [];
  steps.forEach((s, n) => {
    const iso = new Date(START + n * HOUR).toISOString();
    const tag = `t${String(n).padStart(3, '0')}`;
    if (s.kind === 'full' || out.length === 0) return void out.push(member(iso, 'full', null, { bytes: s.bytes * 10, tag }));
    const kind = s.kind === 'segment' ? 'incremental' : s.kind;
    const parent =
      s.kind === 'segment'
        ? out.reduce((a, b) => (b.consistentAt > a.consistentAt ? b : a))
        : s.kind === 'differential' && !out.some((b) => b.kind === 'full')
          ? undefined
          : chooseParent(kind, out)!.parent;
    if (!parent) return;
    out.push(member(iso, kind, parent, { bytes: s.bytes, tag, continuous: s.kind === 'segment', from: s.replay ? parent.consistentAt : undefined }));
  });
  return out.filter((_, i) => !dropped.includes(i));
}

const steps = fc.array(
  fc.record({
    kind: fc.constantFrom<Step['kind']>('full', 'incremental', 'incremental', 'differential', 'segment'),
    replay: fc.boolean(),
    bytes: fc.integer({ min: 1, max: 50 }),
  }),
  { minLength: 1, maxLength: 25 },
);

function intactChain(all: ChainMember[], b: ChainMember): ChainMember[] | undefined {
  try {
    return resolveChain(all, b);
  } catch {
    return undefined;
  }
}

function pointOf(b: ChainMember, at: number): number | undefined {
  const r = restorableOf(b);
  return at < r.from ? undefined : Math.min(at, r.to);
}

describe('planChainRestore — properties over random repositories', () => {
  it('reaches the newest restorable point at or before TIME through the cheapest intact chain', () => {
    fc.assert(
      fc.property(steps, fc.array(fc.nat(24), { maxLength: 3 }), fc.integer({ min: -HOUR, max: 26 * HOUR }), (s, dropped, offset) => {
        const all = repository(s, dropped);
        const at = START + offset;
        const points = all.flatMap((b) => {
          const p = pointOf(b, at);
          return p === undefined ? [] : [{ b, p, chain: intactChain(all, b) }];
        });
        let plan: ReturnType<typeof planChainRestore> | undefined;
        try {
          plan = planChainRestore(all, { at: new Date(at) });
        } catch (err) {
          if (!isDbBackupError(err)) throw err;
          if (points.length === 0) {
            expect(err.code).toBe(all.length ? 'E_NO_RESTORE_POINT' : 'E_BACKUP_NOT_FOUND');
            return;
          }
          const best = Math.max(...points.map((x) => x.p));
          expect(err.code).toBe('E_BACKUP_NOT_FOUND');
          expect(points.filter((x) => x.p === best).every((x) => x.chain === undefined)).toBe(true);
          return;
        }
        const best = Math.max(...points.map((x) => x.p));
        expect(Date.parse(plan.point)).toBe(best);
        expect(Date.parse(plan.point)).toBeLessThanOrEqual(at);
        // The chain is well formed: a full, then each link's parent is the link before it.
        expect(plan.links[0]!.kind).toBe('full');
        plan.links.slice(1).forEach((link, i) => expect(link.parent).toBe(plan!.links[i]!.id));
        expect(plan.links.map((l) => (l.continuous ? 's' : l.kind[0])).join('')).toMatch(/^fd?i*s*$/);
        expect(plan.target).toBe(plan.links.at(-1));
        const r = restorableOf(plan.target);
        expect(best >= r.from && best <= r.to).toBe(true);
        expect(plan.stopAt === null ? r.to : Date.parse(plan.stopAt)).toBe(best);
        // Cheapest: no intact chain reaching the same point stores fewer bytes.
        expect(plan.storedBytes).toBe(plan.links.reduce((n, l) => n + l.storedBytes, 0));
        const cheapest = Math.min(...points.filter((x) => x.p === best && x.chain).map((x) => x.chain!.reduce((n, l) => n + l.storedBytes, 0)));
        expect(plan.storedBytes).toBe(cheapest);
      }),
      { numRuns: 400 },
    );
  });

  it('restores every window end exactly, and a backup by id to its own end with its parent chain', () => {
    fc.assert(
      fc.property(steps, fc.array(fc.nat(24), { maxLength: 2 }), (s, dropped) => {
        const all = repository(s, dropped);
        for (const w of restorableWindows(all)) {
          expect(planChainRestore(all, { at: new Date(w.to) }).point).toBe(w.to);
          expect(planChainRestore(all, { at: new Date(w.from) }).point).toBe(w.from);
        }
        for (const b of all) {
          const chain = intactChain(all, b);
          if (!chain) {
            expect(() => planChainRestore(all, { backupId: b.id })).toThrowError(expect.objectContaining({ code: 'E_BACKUP_NOT_FOUND' }));
            continue;
          }
          const plan = planChainRestore(all, { backupId: b.id });
          expect(plan.links).toEqual(chain);
          expect(plan.point).toBe(new Date(restorableOf(b).to).toISOString());
        }
      }),
      { numRuns: 200 },
    );
  });
});
