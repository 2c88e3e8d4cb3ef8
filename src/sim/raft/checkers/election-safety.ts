// Election Safety (Raft §5.2, Figure 3): at most one leader can be elected
// in a given term. Looked at after every step of every node, so that a
// leadership lost again within the same batch of messages is still seen.

import type { Raft } from '../../../raft/raft.js';
import { RaftChecker } from './checker.js';

export class ElectionSafety extends RaftChecker {
  readonly name = 'election-safety';
  private readonly leaders = new Map<number, string>();

  override afterStep(node: string, raft: Raft): void {
    if (raft.state !== 'leader') return;
    const other = this.leaders.get(raft.term);
    if (other === undefined) this.leaders.set(raft.term, node);
    else if (other !== node) this.violation(`two leaders in term ${raft.term}: ${other} and ${node}`);
  }
}
