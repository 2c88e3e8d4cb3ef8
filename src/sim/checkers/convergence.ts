// Convergence: after healing, every owner of every key holds the same
// sibling set, and no hint is still waiting for delivery.

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
    for (const e of input.runErrors) out.push({ checker: this.name, message: e });
    return out;
  },
};
