// Which conflict a read found, for the native API's answer (docs/api.md,
// "Conflicts"). Every sibling of a reconciled set is concurrent with every
// other (a dotted version vector set keeps only events no other event has
// seen), so a tombstone beside a live value is a delete that did not see
// that value: a conflict between "gone" and "this", which Dynamo leaves to
// the application exactly as it leaves two values. Hiding it behind the
// value (answering 200) would undo the delete silently; the native API
// answers 300 for it as for two values, and says which kind it is.

import type { SiblingSet } from '../version/dvv.js';

/**
 * 'delete': at least one live value and a tombstone concurrent with it;
 * 'siblings': several live values and no tombstone; null: one live value
 * (or none: the key reads as not found).
 */
export type Conflict = 'delete' | 'siblings' | null;

export function conflictOf(set: SiblingSet): Conflict {
  let live = 0;
  let dead = 0;
  for (const s of set.siblings) {
    if (s.value === null) dead++;
    else live++;
  }
  if (live === 0) return null;
  if (dead > 0) return 'delete';
  return live > 1 ? 'siblings' : null;
}
