// Linearizable bucket creation (the control plane's promise to S3 clients):
// every client tries to create the same few names, each as a different
// owner, and reads them back by ReadIndex through random nodes. A name
// ends with exactly one owner:
//
// - at most one creation is acknowledged; every refusal names that owner;
// - once a creation (or a refusal that saw the bucket) has been answered,
//   every read that starts later sees the bucket, with that owner and id;
// - once a read has seen it, every read that starts later sees it;
// - every node's final state agrees.

import { RaftChecker, type FinalView } from './checker.js';
import type { ClientOp } from '../history.js';

export class LinearizableBuckets extends RaftChecker {
  readonly name = 'linearizable-buckets';

  override finish(view: FinalView): void {
    const dec = new TextDecoder();
    const finals = [...view.states].map(([node, bytes]) => ({ node, buckets: new Map((JSON.parse(dec.decode(bytes)) as { buckets: { name: string; owner: string; id: number }[] }).buckets.map((b) => [b.name, b])) }));
    for (const name of view.contested) this.checkName(name, view.ops, finals);
  }

  private checkName(name: string, ops: readonly ClientOp[], finals: { node: string; buckets: Map<string, { owner: string; id: number }> }[]): void {
    const creates = ops.filter((o) => o.kind === 'create' && o.name === name);
    const reads = ops.filter((o) => o.kind === 'read' && o.name === name && o.outcome === 'ok');
    const oks = creates.filter((o) => o.outcome === 'ok');
    if (oks.length > 1) this.violation(`${name}: ${oks.length} creations acknowledged (${oks.map((o) => `${o.id} by ${o.owner} via ${o.node}`).join(', ')})`);
    // Who owns it, as far as any answer says.
    const witnesses = [...oks, ...creates.filter((o) => o.outcome === 'refused' && o.code === 'BucketAlreadyExists'), ...reads.filter((o) => o.seen !== null)];
    const first = witnesses.find((o) => o.seen !== null);
    for (const w of witnesses) {
      if (w.seen === null || first?.seen === null || first === undefined) continue;
      if (w.seen.owner !== first.seen.owner || w.seen.id !== first.seen.id) {
        this.violation(`${name}: ${first.id} (${first.kind} via ${first.node}) saw owner ${first.seen.owner} id ${first.seen.id}, but ${w.id} (${w.kind} via ${w.node}) saw owner ${w.seen.owner} id ${w.seen.id}`);
      }
    }
    // Real-time order: the earliest answer proving the bucket exists.
    const proven = witnesses.filter((o) => o.seen !== null).sort((a, b) => a.completedAt - b.completedAt)[0];
    if (proven !== undefined) {
      for (const r of reads) {
        if (r.invokedAt > proven.completedAt && r.seen === null) {
          this.violation(`${name}: read ${r.id} via ${r.node} (started at ${r.invokedAt.toFixed(0)} ms) found no bucket, but ${proven.id} (${proven.kind} via ${proven.node}) had shown it by ${proven.completedAt.toFixed(0)} ms`);
        }
      }
    }
    for (const f of finals) {
      const b = f.buckets.get(name);
      if (proven !== undefined && proven.seen !== null && (b === undefined || b.owner !== proven.seen.owner)) {
        this.violation(`${name}: ${f.node} ends with ${b === undefined ? 'no bucket' : `owner ${b.owner}`}, but ${proven.id} saw owner ${proven.seen.owner}`);
      }
    }
  }
}
