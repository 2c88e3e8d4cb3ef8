// Integrity: things wrong on their face, noticed while the run went on — a
// dot naming two different writes (a reused counter), a sibling carrying no
// client's write id, an operation failing with something other than the
// coordinator's documented QuorumError.

import type { Checker, CheckInput, Violation } from './model.js';

export const integrity: Checker = {
  name: 'integrity',
  check(input: CheckInput): Violation[] {
    return input.history.anomalies.map((a) => ({ checker: this.name, message: `@${a.at.toFixed(0)} ${a.what}` }));
  },
};
