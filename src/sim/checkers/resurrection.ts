// No resurrection: a value that an acknowledged delete superseded never comes
// back; and a key whose last acknowledged delete covered every version that
// exists, and that nobody wrote after, reads as deleted on every owner.

import { dotKey } from '../../version/dvv.js';
import { KeyModel, ownersState, showSet, showWrite, type Checker, type CheckInput, type Violation } from './model.js';
import type { WriteOp } from '../history.js';
import { covers } from '../../version/dvv.js';

export const noResurrection: Checker = {
  name: 'resurrection',
  check(input: CheckInput): Violation[] {
    const out: Violation[] = [];
    const writes = [...input.history.writes.values()];
    for (const key of input.final.keys) {
      const deletes = writes.filter((w) => w.key === key && w.kind === 'delete' && w.outcome === 'ok');
      if (deletes.length === 0) continue;
      const { owners, sets } = ownersState(input, key);
      for (const o of owners) {
        for (const s of sets.get(o)?.siblings ?? []) {
          if (s.value === null) continue;
          const killer = deletes.find((d) => covers(d.context ?? {}, s.dot));
          if (killer !== undefined) {
            out.push({ checker: this.name, message: `${key} on ${o}: value ${dotKey(s.dot)} is live although ${showWrite(killer)} covered it` });
          }
        }
      }
      // The last acknowledged delete, if nothing was written after it was invoked.
      const last = deletes.reduce<WriteOp | undefined>((a, d) => (a === undefined || d.invokedAt > a.invokedAt ? d : a), undefined);
      if (last === undefined) continue;
      if (writes.some((w) => w.key === key && w !== last && w.invokedAt >= last.invokedAt && w.outcome !== 'failed')) continue;
      const model = new KeyModel(key, input.history);
      const lastDots = new Set(last.dots.map(dotKey));
      const coveredAll = [...model.events.values()].every((e) => lastDots.has(e.id) || covers(last.context ?? {}, e.dot));
      if (!coveredAll) continue;
      for (const o of owners) {
        const live = (sets.get(o)?.siblings ?? []).filter((s) => s.value !== null);
        if (live.length > 0) out.push({ checker: this.name, message: `${key} on ${o} holds ${showSet(sets.get(o))} after ${showWrite(last)} deleted everything and nothing was written since` });
      }
    }
    return out;
  },
};
