// No acknowledged write lost: after healing, every acknowledged write is held
// by every owner of its key, or is superseded by an existing write (a later
// put or delete whose context covered it). An acknowledged delete whose
// tombstone was collected has done its job: its key may vanish.

import { dotKey } from '../../version/dvv.js';
import { dotsOf, dotsOfWrite, KeyModel, ownersState, showSet, showWrite, type Checker, type CheckInput, type Violation } from './model.js';

export const lostWrites: Checker = {
  name: 'lost-write',
  check(input: CheckInput): Violation[] {
    const out: Violation[] = [];
    const models = new Map<string, KeyModel>();
    for (const w of input.history.writes.values()) {
      if (w.outcome !== 'ok') continue;
      const dots = dotsOfWrite(input.history, w);
      if (dots.length === 0) {
        out.push({ checker: this.name, message: `${showWrite(w)} was acknowledged but no store ever held it` });
        continue;
      }
      let model = models.get(w.key);
      if (model === undefined) models.set(w.key, (model = new KeyModel(w.key, input.history)));
      const { owners, sets } = ownersState(input, w.key);
      for (const d of dots) {
        if (model.isSuperseded(d) || model.mayVanish(dotKey(d))) continue;
        for (const o of owners) {
          if (!dotsOf(sets.get(o)).has(dotKey(d))) {
            out.push({ checker: this.name, message: `${showWrite(w)} dot ${dotKey(d)} is not superseded yet missing on owner ${o}, which holds ${showSet(sets.get(o))}` });
          }
        }
      }
    }
    return out;
  },
};
