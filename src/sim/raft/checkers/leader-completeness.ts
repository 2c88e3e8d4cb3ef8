// Leader Completeness (Raft §5.4, Figure 3): if a log entry is committed in
// a given term, it is present in the logs of the leaders of every higher
// term. Commitment is observed where it happens, at a leader advancing its
// commit index; every node that becomes leader of a term is then checked
// against what earlier terms committed.

import type { Raft } from '../../../raft/raft.js';
import type { Ready } from '../../../raft/raw-node.js';
import { entryKey, RaftChecker } from './checker.js';

interface Committed {
  readonly term: number;
  readonly key: string;
  /** The term of the leader that committed it. */
  readonly commitTerm: number;
}

export class LeaderCompleteness extends RaftChecker {
  readonly name = 'leader-completeness';
  private readonly committed = new Map<number, Committed>();
  private readonly commitSeen = new Map<string, number>();
  private readonly checked = new Set<string>();

  override afterStep(node: string, raft: Raft): void {
    if (raft.state !== 'leader') return;
    const key = `${node}@${raft.term}`;
    if (this.checked.has(key)) return;
    this.checked.add(key);
    const snapIndex = raft.log.firstIndex() - 1;
    for (const [index, c] of this.committed) {
      if (c.commitTerm >= raft.term || index <= snapIndex) continue;
      const got = raft.log.entries(index, index + 1);
      const e = got === 'compacted' ? undefined : got[0];
      if (e === undefined || entryKey(e) !== c.key) {
        this.violation(`${node} became leader of term ${raft.term} without entry ${index} (${c.key}), committed in term ${c.commitTerm}; it holds ${e === undefined ? 'nothing' : entryKey(e)} there`);
      }
    }
  }

  override onReady(node: string, rd: Ready, raft: Raft): void {
    if (raft.state !== 'leader' || rd.hardState === undefined) return;
    const from = Math.max(this.commitSeen.get(node) ?? 0, raft.log.firstIndex() - 1);
    const to = rd.hardState.commit;
    this.commitSeen.set(node, to);
    if (to <= from) return;
    const ents = raft.log.entries(from + 1, to + 1);
    if (ents === 'compacted') return;
    for (const e of ents) if (!this.committed.has(e.index)) this.committed.set(e.index, { term: e.term, key: entryKey(e), commitTerm: raft.term });
  }
}
