import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveChain } from '../../../src/domain/chain.js';
import { type ChainMember, restorableOf } from '../../../src/domain/chain-graph.js';
import { isDbBackupError } from '../../../src/domain/errors.js';
import { planChainRestore } from '../../../src/domain/restore-plan-chain.js';
import { restorableWindows } from '../../../src/domain/restorable-windows.js';
import { HOUR, repository, START, steps } from './chain-fixtures.js';

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
  it('reaches the newest restorable point at or before TIME through the cheapest intact chain not passing another that reaches it', () => {
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
        // Never a link another intact chain reaching the same point goes through (that one holds
        // the instant's later commits too); among the rest, none stores fewer bytes.
        expect(plan.storedBytes).toBe(plan.links.reduce((n, l) => n + l.storedBytes, 0));
        const tied = points.filter((x) => x.p === best && x.chain);
        const last = tied.filter((x) => !tied.some((y) => y !== x && y.chain!.includes(x.b)));
        expect(last.map((x) => x.b)).toContain(plan.target);
        const cheapest = Math.min(...last.map((x) => x.chain!.reduce((n, l) => n + l.storedBytes, 0)));
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
