// Read your acknowledged writes: a read that starts after a write was
// acknowledged sees it — the write's dot is among the read's siblings, or a
// sibling the read returned supersedes it (directly or through a chain) —
// whenever the quorum argument says it must:
//
// - the replicas that acknowledged the write and the replicas that answered
//   the read share an owner of the key (that node stored the write before
//   acknowledging it, and answered the read after). Only an owner: a
//   fallback keeps a hinted write in its hint table only until handoff, and
//   forgets it then (Dynamo §4.6), so a read it serves later may miss it; or
// - R + W > N (the read's R and the write's W: requests may override the
//   run's quorum) and both the write and the read were answered only by the
//   key's owners (no sloppy quorum), so by pigeonhole they share an owner.
//
// - with layout changes (docs/layout.md), R + W > N where the read was
//   answered only by owners of the read version of its coordinator's view
//   and the write only by owners of the live versions of its coordinator's
//   view: a write reaches a write quorum in every live version, and a node
//   reports a version synced only after pulling from a read quorum of each
//   older live version, so the read version's owners hold it (the layout
//   mover's syncNewestOnly switch breaks exactly this).
//
// The second rule is the user-facing promise of R + W > N; it checks the
// coordinator's claim that W replicas stored the write. Sloppy quorums void
// it (a write may land on fallbacks only), hence the owner condition; with no
// faults there are no fallbacks and every R + W > N pair is judged.
//
// Tombstone collection: once a tombstone that holds or supersedes the
// write has been collected (before the read completed), the key may read as
// absent.

import { dotKey, type Dot } from '../../version/dvv.js';
import type { History, ReadOp, WriteOp } from '../history.js';
import { KeyModel, showWrite, type Checker, type CheckInput, type Violation } from './model.js';

export const readYourWrites: Checker = {
  name: 'read-your-writes',
  check(input: CheckInput): Violation[] {
    const { config, history } = input;
    const out: Violation[] = [];
    const models = new Map<string, KeyModel>();
    const reads = history.ops.filter((o): o is ReadOp => o.kind === 'get' && o.outcome === 'ok');
    const writes = [...history.writes.values()].filter((w) => w.outcome === 'ok');
    for (const read of reads) {
      let model = models.get(read.key);
      if (model === undefined) models.set(read.key, (model = new KeyModel(read.key, history)));
      const owners = new Set(input.final.byKey.get(read.key)?.owners ?? []);
      const readOwnersOnly = read.replicas.every((n) => owners.has(n));
      const returned = read.siblings.map((s) => model.events.get(dotKey(s.dot))).filter((e) => e !== undefined);
      for (const w of writes) {
        if (w.key !== read.key || w.completedAt >= read.invokedAt) continue;
        const shared = w.replicas.some((n) => owners.has(n) && read.replicas.includes(n));
        const byQuorum = read.r + w.w > config.n && readOwnersOnly && w.replicas.every((n) => owners.has(n));
        const byLayout = !shared && !byQuorum && acrossVersions(input, read, w);
        if (!shared && !byQuorum && !byLayout) continue;
        const seen = (d: Dot): boolean => returned.some((e) => model.reaches(e, d)) || history.wasCollected(undefined, read.key, d, read.completedAt);
        // The dots the answer named must all be seen. When the answer named
        // none (a concurrent write had superseded the write by then), one
        // of its events persisted by the time it was acknowledged must be:
        // a duplicated request makes the origin mint a second event for the
        // same write, which the acknowledging replicas need not hold.
        const dots = w.dots.length > 0 ? w.dots : persistedBy(history, w);
        const missing = w.dots.length > 0 ? dots.filter((d) => !seen(d)) : dots.some(seen) ? [] : dots;
        for (const d of missing) {
          out.push({
            checker: this.name,
            message: `${describeRead(read)} misses ${showWrite(w)} (dot ${dotKey(d)}, written to ${w.replicas.join(',')}; ${shared ? 'a replica answered both' : byQuorum ? `R+W>N over owners ${[...owners].join(',')}` : `R+W>N across layout versions: read from read-version owners ${readVersionOwners(input, read).join(',')}`})`,
          });
        }
      }
    }
    return out;
  },
};

/** The read version's owners of the read's key in its coordinator's view when it began (layout runs only). */
function readVersionOwners(input: CheckInput, read: ReadOp): string[] {
  const view = input.history.layoutViewAt(read.node, read.invokedAt);
  const p = input.final.byKey.get(read.key)?.partition;
  return view === undefined || p === undefined ? [] : view.preference(p, input.config.n).owners;
}

/** The third rule: R + W > N, the read answered only by its read version's owners, the write only by owners of its live versions. */
function acrossVersions(input: CheckInput, read: ReadOp, w: WriteOp): boolean {
  if (read.r + w.w <= input.config.n) return false;
  const wview = input.history.layoutViewAt(w.node, w.invokedAt);
  const p = input.final.byKey.get(read.key)?.partition;
  if (wview === undefined || p === undefined) return false;
  const readOwners = readVersionOwners(input, read);
  const writeOwners = wview.allOwners(p, input.config.n);
  return read.replicas.every((n) => readOwners.includes(n)) && w.replicas.every((n) => writeOwners.includes(n));
}

/** The events of a write that some store had persisted by the time it was acknowledged. */
function persistedBy(history: History, w: WriteOp): Dot[] {
  return [...history.persisted.values()].filter((e) => e.writeId === w.writeId && e.firstAt <= w.completedAt).map((e) => e.dot);
}

function describeRead(r: ReadOp): string {
  const sibs = r.siblings.map((s) => `${s.tombstone ? 'del' : 'val'}:${dotKey(s.dot)}/w${s.writeId}`).join(' ');
  return `get ${r.key} (c${r.client} via ${r.node}, invoked@${r.invokedAt.toFixed(0)}, read ${r.replicas.join(',')}) returned [${sibs}]`;
}
