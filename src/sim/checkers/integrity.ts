// Integrity: things wrong on their face, noticed while the run went on — a
// dot naming two different writes (a reused counter), a sibling carrying no
// client's write id, an operation failing with something other than the
// coordinator's documented QuorumError, a key removed while it held a live
// value, a tombstone collected while an owner did not hold it, a hint
// deleted before its owner held it (the run-time oracles of world.ts); and
// in the final state, a Merkle tree out of step with its store, or replicas
// kept by a node that does not own their partition.

import type { Checker, CheckInput, Violation } from './model.js';

export const integrity: Checker = {
  name: 'integrity',
  check(input: CheckInput): Violation[] {
    const out = input.history.anomalies.map((a) => ({ checker: this.name, message: `@${a.at.toFixed(0)} ${a.what}` }));
    for (const p of input.final.problems) if (p.what !== 'roots' && p.what !== 'layout') out.push({ checker: this.name, message: `final state: ${p.message}` });
    return out;
  },
};
