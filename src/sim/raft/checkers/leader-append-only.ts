// Leader Append-Only (Raft §5.3, Figure 3): a leader never overwrites or
// deletes entries in its log; it only appends. Checked on what each leader
// hands to its disk: while it leads a term, every batch of entries it
// persists starts right after the last one, and it never installs a
// snapshot.

import type { Raft } from '../../../raft/raft.js';
import type { Ready } from '../../../raft/raw-node.js';
import { RaftChecker } from './checker.js';

export class LeaderAppendOnly extends RaftChecker {
  readonly name = 'leader-append-only';
  /** node -> the term it leads and the last index it had persisted or handed out as leader. */
  private readonly leading = new Map<string, { term: number; last: number }>();

  override afterStep(node: string, raft: Raft): void {
    const l = this.leading.get(node);
    if (raft.state !== 'leader') {
      this.leading.delete(node);
      return;
    }
    // The log as the new leader found it: everything before its noop, and at least what its disk holds (a leader only wins after persisting its campaign, so nothing it holds is still unwritten).
    if (l === undefined || l.term !== raft.term) this.leading.set(node, { term: raft.term, last: Math.max(raft.log.lastIndex() - 1, raft.log.storage.lastIndex()) });
  }

  override onReady(node: string, rd: Ready, raft: Raft): void {
    const l = this.leading.get(node);
    if (l === undefined || raft.state !== 'leader' || l.term !== raft.term) return;
    if (rd.snapshot !== undefined) this.violation(`leader ${node} (term ${l.term}) installed a snapshot at ${rd.snapshot.meta.index}`);
    const first = rd.entries[0];
    if (first === undefined) return;
    if (first.index !== l.last + 1) this.violation(`leader ${node} (term ${l.term}) wrote entries from ${first.index} over its log that ended at ${l.last}`);
    l.last = (rd.entries[rd.entries.length - 1] as { index: number }).index;
  }
}
