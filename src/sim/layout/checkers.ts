// The layout simulator's checkers. `lost-write` and `no-resurrection` watch
// every read as it happens (src/sim/layout/world.ts, judgeRead; a delete's
// read-first included); the others look at the world after every step
// (`readable-quorum`, `no-read-of-retired`) or at the end, after healing
// (`liveness`, `placement`, `removed-owns-nothing`, and `no-resurrection`
// again on every node's store; `collection-done` once collection has run
// until it makes no progress). Each is proven to catch a bug switch
// (test/sim/layout-checkers-catch-bugs.test.ts).

import { current, readSet, readVersion } from '../../layout/history.js';
import { holders, ownersOf } from '../../layout/types.js';
import type { LayoutWorld } from './world.js';

export const LAYOUT_CHECKERS = ['lost-write', 'no-resurrection', 'readable-quorum', 'no-read-of-retired', 'liveness', 'placement', 'removed-owns-nothing', 'collection-done'] as const;

/**
 * After every step, for every node that may coordinate a read: in the read
 * version of ITS view, every acknowledged write must sit on enough owners
 * that any read quorum of the live ones meets it (Dynamo §4.5: R + W > N,
 * here per version). Dead nodes' disks are gone, so they do not count.
 */
export function checkReadableQuorum(w: LayoutWorld): void {
  const R = w.config.readQuorum;
  const seen = new Set<number>();
  for (const c of w.coordinators()) {
    const hv = w.viewOf(c);
    if (seen.has(c.view)) continue;
    seen.add(c.view);
    const byPartition = new Map<number, string[]>();
    for (let key = 0; key < w.config.keys; key++) {
      if (w.acked[key]!.size === 0) continue;
      const p = w.partitionOf(key);
      let owners = byPartition.get(p);
      if (owners === undefined) byPartition.set(p, (owners = readSet(hv, p, w.config.bugs).filter((o) => !w.nodes.get(o)!.dead)));
      const stores = owners.map((o) => w.nodes.get(o)!.store.get(key));
      for (const want of w.acked[key]!) {
        if (w.mayBeDeleted[key]!.has(want)) continue;
        const holding = owners.filter((_, i) => stores[i]?.values.has(want) === true);
        if (holding.length < owners.length - R + 1) {
          w.violation('readable-quorum', `${c.id}'s read version ${readVersion(hv, w.config.bugs)}: k${key}'s acknowledged w${want} is on ${holding.length} of owners ${owners.join(',')} (${holding.join(',') || 'none'}); a read quorum of ${R} can miss it`);
          break;
        }
      }
    }
  }
}

/** After every step: no node that may coordinate reads from a version the control state has retired (its owners may have dropped the data). */
export function checkNoReadOfRetired(w: LayoutWorld): void {
  const oldest = w.latest().versions[0]!.version;
  for (const c of w.coordinators()) {
    const rv = readVersion(w.viewOf(c), w.config.bugs);
    if (rv < oldest) w.violation('no-read-of-retired', `${c.id} reads from version ${rv}, retired (oldest live is ${oldest})`);
  }
}

/** After healing: one live version, every node's view at the end of the log. */
export function checkLiveness(w: LayoutWorld, rounds: number): void {
  const h = w.latest();
  if (h.versions.length !== 1) w.violation('liveness', `after ${rounds} healing rounds ${h.versions.length} versions are still live (${h.versions.map((v) => v.version).join(',')}); progress ${JSON.stringify(h.progress)}`);
}

/** After healing: every acknowledged write on every owner of the final version, and no key anywhere else. */
export function checkPlacement(w: LayoutWorld): void {
  const cur = current(w.latest())!;
  for (let key = 0; key < w.config.keys; key++) {
    const owners = ownersOf(cur.assignment, w.partitionOf(key));
    for (const n of w.nodes.values()) {
      if (n.dead) continue;
      const has = n.store.get(key);
      if (owners.includes(n.id)) {
        const missing = [...w.acked[key]!].filter((id) => has?.values.has(id) !== true && !w.mayBeDeleted[key]!.has(id));
        if (missing.length > 0) w.violation('placement', `k${key}: final owner ${n.id} lacks acknowledged w${missing.join(',w')}`);
      } else if (has !== undefined) {
        w.violation('placement', `k${key} (${has.values.size} value(s), ${has.tombs.size} tombstone(s)) sits on ${n.id}, which is not among its final owners ${owners.join(',')}`);
      }
    }
  }
}

/** After healing: a node the final version does not list as storage holds nothing and owns nothing. */
export function checkRemovedOwnsNothing(w: LayoutWorld): void {
  const h = w.latest();
  const storage = new Set(holders(current(h)!.members).map((m) => m.id));
  for (const n of w.nodes.values()) {
    if (storage.has(n.id) || n.dead) continue;
    if (n.store.size > 0) w.violation('removed-owns-nothing', `${n.id} is no storage node of version ${current(h)!.version} but still holds ${n.store.size} key(s)`);
    if (h.versions.some((v) => v.assignment.nodes.includes(n.id))) w.violation('removed-owns-nothing', `${n.id} still owns partitions in a live version`);
  }
}

/** After healing: no node holds a value that an acknowledged delete covered (the reads that follow are judged too, in world.ts). */
export function checkNoResurrectionHealed(w: LayoutWorld): void {
  for (const n of w.nodes.values()) {
    if (n.dead) continue;
    for (const [key, st] of n.store) {
      const back = [...st.values].filter((id) => w.deleted[key]!.has(id));
      if (back.length > 0) w.violation('no-resurrection', `after healing ${n.id} holds k${key}'s w${back.join(',w')}, which an acknowledged delete covered`);
    }
  }
}

/** After healing and collecting until no progress: no tombstone is left anywhere (collection never waits forever, e.g. for a removed node). */
export function checkCollectionDone(w: LayoutWorld): void {
  for (const n of w.nodes.values()) {
    if (n.dead) continue;
    for (const [key, st] of n.store) if (st.tombs.size > 0) w.violation('collection-done', `after healing and collecting, ${n.id} still holds ${st.tombs.size} tombstone(s) of k${key} (t${[...st.tombs.keys()].join(',t')})`);
  }
}
