// The Raft simulator's checkers, each a separate property (Raft Figure 3's
// five guarantees, linearizable bucket creation, liveness after healing).
import { ElectionSafety } from './election-safety.js';
import { LeaderAppendOnly } from './leader-append-only.js';
import { LeaderCompleteness } from './leader-completeness.js';
import { LinearizableBuckets } from './linearizable-buckets.js';
import { Liveness } from './liveness.js';
import { LogMatching } from './log-matching.js';
import { StateMachineSafety } from './state-machine-safety.js';
import type { RaftChecker } from './checker.js';

export { RaftChecker, type Violation, type FinalView } from './checker.js';

export function makeCheckers(): RaftChecker[] {
  return [new ElectionSafety(), new LeaderAppendOnly(), new LogMatching(), new LeaderCompleteness(), new StateMachineSafety(), new LinearizableBuckets(), new Liveness()];
}
