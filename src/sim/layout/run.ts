// One seed, one run of the layout simulator (docs/layout.md, "Simulator"):
// a safety phase of random steps (writes, deletes, reads, nodes learning the
// control log late, progress reports, syncs, anti-entropy, tombstone
// collection, crashes, and the operator's layout changes: at least an add, a
// remove and a replacement, one applied while a node is down, one right after
// the previous), then a healing phase (every node up and caught up, the
// operator lets dead nodes go, collection goes on) in which the old versions
// must retire; then the final checks and a read of every key.

import { murmur3 } from '../../util/hash.js';
import { SeededRandom } from '../../util/runtime.js';
import { checkCollectionDone, checkLiveness, checkNoReadOfRetired, checkNoResurrectionHealed, checkPlacement, checkReadableQuorum, checkRemovedOwnsNothing } from './checkers.js';
import { describeLayoutConfig, drawLayoutConfig, type LayoutSimBugs, type LayoutSimConfig } from './config.js';
import { LayoutWorld, type LayoutViolation } from './world.js';

export interface LayoutRunResult {
  readonly seed: number;
  readonly config: LayoutSimConfig;
  readonly violations: readonly LayoutViolation[];
  readonly fingerprint: string;
  readonly stats: LayoutWorld['stats'];
  readonly trace: readonly string[];
}

const HEAL_ROUNDS = 40;

/** What the issue asks every seed with more nodes than N to draw, as this run drew it. */
export function coverage(s: LayoutWorld['stats']): { add: boolean; remove: boolean; replace: boolean; whileDown: boolean; backToBack: boolean; all: boolean } {
  const c = { add: s.adds > 0, remove: s.removes > 0, replace: s.replacements > 0, whileDown: s.changesWhileDown > 0, backToBack: s.backToBack > 0 };
  return { ...c, all: c.add && c.remove && c.replace && c.whileDown && c.backToBack };
}

export function runLayoutSeed(seed: number, opts: { readonly bugs?: LayoutSimBugs } = {}): LayoutRunResult {
  const config = drawLayoutConfig(seed, opts.bugs ?? {});
  const random = new SeededRandom(seed ^ 0x7a3c11);
  const w = new LayoutWorld(config, random);
  w.note(`LAYOUT seed=${seed} ${describeLayoutConfig(config)}`);

  const changeAt: number[] = [];
  let t = 20 + random.int(60);
  for (let k = 0; k < config.changes.length; k++) {
    changeAt.push(t);
    // The drawn back-to-back change follows at the very next step: one step cannot carry every node's seen report, so the previous version is still unsynced.
    t += k + 1 === config.backToBackAt ? 1 : random.next() < config.backToBack ? 1 + random.int(5) : 30 + random.int(Math.max(1, Math.floor(config.steps / config.changes.length)));
  }

  // ------------------------------------------------------------- safety phase
  let nextChange = 0;
  // The safety phase runs its drawn length, and at least 40 steps past the last change: no drawn change is left unapplied.
  const steps = Math.max(config.steps, changeAt[changeAt.length - 1]! + 40);
  for (let step = 0; step < steps; step++) {
    w.step = step;
    while (nextChange < changeAt.length && changeAt[nextChange] === step) {
      if (nextChange === config.changeWhileDown) crashOne(w, random);
      w.change(config.changes[nextChange++]!);
    }
    if (random.next() < config.crashRate) crashOrRestart(w, random);
    const live = [...w.nodes.values()].filter((n) => n.up && !n.dead);
    const any = live[random.int(live.length)];
    const coords = w.coordinators();
    const coord = coords[random.int(coords.length)];
    const roll = random.int(100);
    if (roll < 20) {
      if (coord !== undefined) w.write(coord, random.int(config.keys));
    } else if (roll < 26) {
      if (coord !== undefined) w.del(coord, random.int(config.keys));
    } else if (roll < 44) {
      if (coord !== undefined) w.read(coord, random.int(config.keys));
    } else if (roll < 61) {
      if (any !== undefined) w.learn(any, 1 + random.int(config.learnBatch));
    } else if (roll < 70) {
      if (any !== undefined) w.reportSeen(any);
    } else if (roll < 81) {
      if (any !== undefined) w.sync(any);
    } else if (roll < 90) {
      if (any !== undefined) w.reportReadSeen(any);
    } else if (roll < 95) {
      if (any !== undefined) w.collect(any);
    } else if (roll < 99) {
      if (any !== undefined && config.antiEntropy) w.antiEntropy(any);
    } else {
      w.skipDeadNodes();
    }
    checkReadableQuorum(w);
    checkNoReadOfRetired(w);
  }

  // ------------------------------------------------------------- healing
  w.step = steps;
  w.note('heal: every node up, the operator lets dead nodes go');
  for (const n of w.nodes.values()) if (!n.dead) n.up = true;
  const nodes = () => [...w.nodes.values()].filter((n) => !n.dead);
  let rounds = 0;
  for (; rounds < HEAL_ROUNDS; rounds++) {
    w.step++;
    w.skipDeadNodes();
    for (const n of nodes()) {
      w.learn(n, Infinity);
      w.reportSeen(n);
    }
    for (const n of nodes()) {
      w.learn(n, Infinity);
      w.sync(n);
    }
    checkReadableQuorum(w);
    checkNoReadOfRetired(w);
    for (const n of nodes()) {
      w.learn(n, Infinity);
      w.reportReadSeen(n);
    }
    // Before anti-entropy repairs anything: the switch to a new read version must not depend on it.
    for (const n of nodes()) w.learn(n, Infinity);
    checkReadableQuorum(w);
    checkNoReadOfRetired(w);
    for (const n of nodes()) {
      w.learn(n, Infinity);
      w.antiEntropy(n);
    }
    // Collection keeps running while the cluster heals: it must neither wait forever for a removed node nor bring anything back.
    for (const n of nodes()) w.collect(n);
    for (const n of nodes()) w.collect(n);
    if (w.latest().versions.length === 1 && nodes().every((n) => n.view === w.log.length - 1)) break;
  }
  for (const n of nodes()) {
    w.learn(n, Infinity);
    w.wipe(n);
  }
  for (const n of nodes()) w.antiEntropy(n);
  checkLiveness(w, rounds);
  checkPlacement(w);
  checkRemovedOwnsNothing(w);
  checkNoResurrectionHealed(w);
  // Every key read once more by a node of the final version: a deleted value must not come back through a read either.
  const reader = w.coordinators()[0];
  if (reader !== undefined) for (let key = 0; key < config.keys; key++) w.read(reader, key);
  // Then collection runs until it makes no more progress: with every node up and one version left, no tombstone may be
  // left behind (collection never waits for a removed node), and the reads after it must bring nothing back.
  for (let guard = 0; guard < 10_000; guard++) {
    const before = w.stats.collections;
    for (const n of nodes()) {
      w.collect(n);
      w.collect(n);
    }
    if (w.stats.collections === before) break;
  }
  checkCollectionDone(w);
  if (reader !== undefined) for (let key = 0; key < config.keys; key++) w.read(reader, key);

  const fingerprint = `${(murmur3(w.trace.join('\n')) >>> 0).toString(16).padStart(8, '0')}-${w.log.length}-${w.stats.writesOk}`;
  return { seed, config, violations: w.violations, fingerprint, stats: w.stats, trace: w.trace };
}

/** The operator's change lands while a node is down: if none is (a dead one does not count), one that is up crashes now. */
function crashOne(w: LayoutWorld, random: SeededRandom): void {
  const candidates = [...w.nodes.values()].filter((n) => !n.dead);
  if (candidates.some((n) => !n.up)) return;
  const n = candidates[random.int(candidates.length)];
  if (n === undefined) return;
  n.up = false;
  w.note(`${n.id} crashes (a change is applied while it is down)`);
}

/** A node crashes (at most one non-dead node down at a time, so quorums stay possible) or a down one restarts. */
function crashOrRestart(w: LayoutWorld, random: SeededRandom): void {
  const candidates = [...w.nodes.values()].filter((n) => !n.dead);
  const n = candidates[random.int(candidates.length)];
  if (n === undefined) return;
  if (!n.up) {
    n.up = true;
    w.note(`${n.id} restarts`);
  } else if (candidates.every((x) => x.up)) {
    n.up = false;
    w.note(`${n.id} crashes`);
  }
}
