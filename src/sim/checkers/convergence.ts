// Convergence: after healing, every owner of every key holds the same
// sibling set, no hint is still waiting for delivery, and the owners of
// every partition have equal Merkle roots (anti-entropy's own notion of
// "converged"); plus the liveness errors of the run (views that never
// healed, a healing phase that never converged, a final read that failed).

import { dotsOf, ownersState, showSet, type Checker, type CheckInput, type Violation } from './model.js';

export const convergence: Checker = {
  name: 'convergence',
  check(input: CheckInput): Violation[] {
    const out: Violation[] = [];
    for (const key of input.final.keys) {
      const { owners, sets } = ownersState(input, key);
      const first = owners[0];
      if (first === undefined) continue;
      const ref = [...dotsOf(sets.get(first))].sort().join(' ');
      for (const o of owners.slice(1)) {
        if ([...dotsOf(sets.get(o))].sort().join(' ') !== ref) {
          out.push({ checker: this.name, message: `${key}: owner ${first} holds ${showSet(sets.get(first))} but owner ${o} holds ${showSet(sets.get(o))}` });
        }
      }
    }
    if (input.final.pendingHints > 0) out.push({ checker: this.name, message: `${input.final.pendingHints} hints still pending after healing` });
    for (const p of input.final.problems) if (p.what === 'roots') out.push({ checker: this.name, message: p.message });
    for (const e of input.runErrors) out.push({ checker: this.name, message: e });
    return out;
  },
};
