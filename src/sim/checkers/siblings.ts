// Siblings exactly right: after healing, each owner of a key holds exactly
// the events that exist and that no other existing event supersedes — no
// superseded version lingering, no concurrent version dropped, nothing that
// no client wrote. Writes whose outcome was unknown count iff some store
// persisted them; a write reported failed ('not applied') must not exist.
// A tombstone that tombstone collection removed may be missing (a fully
// deleted key may vanish), but what it superseded must still be gone. After
// a layout change, an unacknowledged write held only by a node that gave
// its partition up may be gone with it (KeyModel.forgetDropped).

import { dotKey } from '../../version/dvv.js';
import { dotsOf, KeyModel, ownersState, showSet, type Checker, type CheckInput, type Violation } from './model.js';

export const siblingsExact: Checker = {
  name: 'siblings',
  check(input: CheckInput): Violation[] {
    const out: Violation[] = [];
    for (const e of input.history.persisted.values()) {
      const w = input.history.writes.get(e.writeId);
      if (w !== undefined && w.outcome === 'failed') {
        out.push({ checker: this.name, message: `w${w.writeId} on ${w.key} was reported not applied (${w.error ?? ''}) yet ${e.firstNode} persisted it as ${dotKey(e.dot)}` });
      }
    }
    for (const key of input.final.keys) {
      const model = new KeyModel(key, input.history);
      const { owners, sets } = ownersState(input, key);
      model.forgetDropped(input.history, new Set(owners.flatMap((o) => [...dotsOf(sets.get(o))])));
      const expected = model.expected();
      for (const o of owners) {
        const held = dotsOf(sets.get(o));
        const missing = [...expected].filter((d) => !held.has(d) && !model.mayVanish(d));
        const extra = [...held].filter((d) => !expected.has(d));
        if (missing.length === 0 && extra.length === 0) continue;
        const why = extra.map((d) => {
          const ev = model.events.get(d);
          if (ev === undefined) return `${d} (no client wrote it)`;
          const by = model.supersedersOf(ev.dot).map((s) => `${s.id}/w${s.writeId}`);
          return `${d}/w${ev.writeId} (superseded by ${by.join(',')})`;
        });
        out.push({
          checker: this.name,
          message:
            `${key} on owner ${o} holds ${showSet(sets.get(o))}, expected [${[...expected].sort().join(' ')}]` +
            (missing.length > 0 ? `; missing ${missing.join(',')}` : '') +
            (extra.length > 0 ? `; extra ${why.join(', ')}` : ''),
        });
      }
    }
    return out;
  },
};
