// A delete issued after a write was acknowledged leaves no visible value
// once healed (issue 16; coordinator/read-first.ts). A context-less delete
// reads at R and mints its tombstone with the clock of what it read; an
// acknowledged write is on W replicas. When both were strict (owners only,
// `sloppy: false`) and R + W > N, the read shared a replica with the write
// (Dynamo §4.5's quorum intersection), so the tombstone covers it: after
// healing no owner may hold the write's value. That is exactly the promise,
// and it is judged exactly, twice: the tombstone's context (as minted)
// covers the write's dot, and no owner holds the value after healing.
//
// Otherwise (a sloppy quorum, or R + W <= N) the read may miss the write and
// the tombstone is then concurrent with it. That is allowed, but never
// hidden: an owner that still holds the write's value must hold the delete's
// tombstone beside it (a GET then answers 300 listing both), unless a later
// write that saw the tombstone superseded it, or collection removed it (a
// tombstone-only set everywhere; the value came back afterwards from a
// fallback's hint: docs/api.md names this limit).
//
// And whatever the pair: a final read of a key whose owners hold a value and
// a tombstone lists the tombstone (the conflict reaches the client).

import { covers, dotKey, type Dot, type SiblingSet } from '../../version/dvv.js';
import type { ReadOp, WriteOp } from '../history.js';
import { dotsOfWrite, KeyModel, ownersState, showSet, showWrite, type Checker, type CheckInput, type Violation } from './model.js';

function holdsLive(set: SiblingSet | undefined, dot: Dot): boolean {
  return (set?.siblings ?? []).some((s) => s.value !== null && s.dot.node === dot.node && s.dot.counter === dot.counter);
}

function holds(set: SiblingSet | undefined, dot: Dot): boolean {
  return (set?.siblings ?? []).some((s) => s.dot.node === dot.node && s.dot.counter === dot.counter);
}

export const deleteAfterWrite: Checker = {
  name: 'delete-after-write',
  check(input: CheckInput): Violation[] {
    const { config, history } = input;
    const out: Violation[] = [];
    const writes = [...history.writes.values()].filter((w) => w.outcome === 'ok');
    const puts = writes.filter((w) => w.kind === 'put');
    const deletes = writes.filter((w): w is WriteOp & { readR: number } => w.kind === 'delete' && w.readFirst === 'everything' && w.readR !== null);
    const models = new Map<string, KeyModel>();
    const modelOf = (key: string): KeyModel => {
      let m = models.get(key);
      if (m === undefined) models.set(key, (m = new KeyModel(key, history)));
      return m;
    };
    for (const d of deletes) {
      const { owners, sets } = ownersState(input, d.key);
      const tombstones = dotsOfWrite(history, d);
      for (const p of puts) {
        if (p.key !== d.key || p.completedAt >= d.invokedAt) continue;
        const exact = !p.sloppy && !d.sloppy && d.readR + p.w > config.n;
        // The dots the write's answer named: those its W acknowledging replicas hold.
        for (const dot of p.dots) {
          if (exact) {
            // The tombstone itself must cover the write (unless a delete that
            // superseded the write was collected before the read: the key was gone).
            for (const t of tombstones) {
              const minted = history.persisted.get(`${d.key}\u0000${dotKey(t)}`);
              if (minted === undefined || covers(minted.past, dot) || history.wasCollected(undefined, d.key, dot, d.completedAt)) continue;
              out.push({
                checker: this.name,
                message: `${showWrite(d)} (strict, read R=${d.readR}) was issued after ${showWrite(p)} (strict, W=${p.w}) was acknowledged, yet its tombstone ${dotKey(t)} does not cover ${dotKey(dot)} (its context: ${JSON.stringify(minted.past)})`,
              });
            }
          }
          for (const o of owners) {
            const set = sets.get(o);
            if (!holdsLive(set, dot)) continue;
            if (exact) {
              out.push({
                checker: this.name,
                message: `${showWrite(d)} (strict, read R=${d.readR}) was issued after ${showWrite(p)} (strict, W=${p.w}) was acknowledged, yet owner ${o} holds its value ${dotKey(dot)} after healing: ${showSet(set)}`,
              });
              continue;
            }
            const visible = tombstones.some((t) => holds(set, t) || modelOf(d.key).isSuperseded(t) || history.wasCollected(undefined, d.key, t));
            if (!visible) {
              out.push({
                checker: this.name,
                message: `${showWrite(d)} missed ${showWrite(p)} and the conflict is hidden: owner ${o} holds its value ${dotKey(dot)} without the tombstone ${tombstones.map(dotKey).join(',') || '(none)'}: ${showSet(set)}`,
              });
            }
          }
        }
      }
    }
    // The conflict reaches the client: the final R = N reads list the tombstones beside the values.
    for (const read of history.ops) {
      if (read.kind !== 'get' || read.phase !== 'heal' || read.outcome !== 'ok') continue;
      const owner = input.final.byKey.get(read.key)?.owners[0];
      const held = owner === undefined ? undefined : input.final.byKey.get(read.key)?.byNode.get(owner);
      if (held === undefined || !held.siblings.some((s) => s.value !== null)) continue;
      const got = new Set((read as ReadOp).siblings.map((s) => dotKey(s.dot)));
      const hidden = held.siblings.filter((s) => s.value === null && !got.has(dotKey(s.dot)));
      if (hidden.length > 0) {
        out.push({ checker: this.name, message: `final read of ${read.key} via ${read.node} hid the tombstones ${hidden.map((s) => dotKey(s.dot)).join(',')} that the owners hold beside live values: ${showSet(held)}` });
      }
    }
    return out;
  },
};
