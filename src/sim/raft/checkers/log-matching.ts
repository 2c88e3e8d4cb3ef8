// Log Matching (Raft §5.3, Figure 3): if two logs contain an entry with the
// same index and term, the logs are identical in all entries up through
// that index. Checked on every pair of persisted logs at the end of the run
// (over the indexes both still hold above their snapshots).

import type { Entry } from '../../../raft/messages.js';
import { entryKey, RaftChecker, type FinalView } from './checker.js';

export class LogMatching extends RaftChecker {
  readonly name = 'log-matching';

  override finish(view: FinalView): void {
    const logs = [...view.storages].map(([id, s]) => {
      const e = s.entries(s.firstIndex(), s.lastIndex() + 1);
      return { id, first: s.firstIndex(), entries: e === 'compacted' ? [] : e };
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) this.comparePair(logs[a]!, logs[b]!);
    }
  }

  private comparePair(a: { id: string; first: number; entries: readonly Entry[] }, b: { id: string; first: number; entries: readonly Entry[] }): void {
    const lo = Math.max(a.first, b.first);
    const hi = Math.min(a.first + a.entries.length, b.first + b.entries.length) - 1;
    // The highest index where both hold the same term: everything below it (that both hold) must be equal.
    let top = -1;
    for (let i = hi; i >= lo; i--) {
      if (a.entries[i - a.first]!.term === b.entries[i - b.first]!.term) {
        top = i;
        break;
      }
    }
    for (let i = lo; i <= top; i++) {
      const x = a.entries[i - a.first]!;
      const y = b.entries[i - b.first]!;
      if (entryKey(x) !== entryKey(y)) {
        this.violation(`${a.id} and ${b.id} agree at index ${top} (term ${a.entries[top - a.first]!.term}) but differ at ${i}: ${entryKey(x)} vs ${entryKey(y)}`);
        return;
      }
    }
  }
}
