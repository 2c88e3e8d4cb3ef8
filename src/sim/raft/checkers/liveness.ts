// Liveness after healing: once every fault is gone and every node is up, a
// leader is elected and every member applies the same state (what the run
// recorded as runErrors if it did not within its bound).

import { RaftChecker, type FinalView } from './checker.js';

export class Liveness extends RaftChecker {
  readonly name = 'liveness';

  override finish(view: FinalView): void {
    for (const e of view.runErrors) this.violation(e);
  }
}
