// Writes without a context that read first (Riak's delete): the write is
// minted with the context of what a read quorum saw, instead of meaning
// "nothing" (a new sibling) or "whatever one replica holds" (the origin's
// clock, which misses every acknowledged write that has not reached it yet).
//
// Why a read: a context-less DELETE means "make the key go away", and the
// client expects it to cover every write acknowledged before it was issued.
// An acknowledged write is on W replicas; a read of R replicas with
// R + W > N shares one of them (Dynamo §4.5, the quorum-intersection
// argument), so the read's clock covers the write's dot. That holds when the
// write and the read both went to the key's owners: a sloppy quorum (Dynamo
// §4.6) may have put the write on fallbacks the read does not ask, hence
// `sloppy: false` makes the read strict too. The origin replica's own clock
// is joined in (supersedeVisible), so the delete also covers what the origin
// holds, as it always did.
//
// Two modes:
//   everything  the write supersedes everything the read saw, values and
//               tombstones, and what the origin holds (a context-less DELETE;
//               an S3 PUT, copy or multipart complete: "replace");
//   tombstones  the write supersedes the read only when the read found the
//               key deleted (tombstones and nothing live): a context-less
//               native PUT re-creates a deleted key instead of standing in
//               conflict with its delete, while beside live values it is a
//               new sibling, as Dynamo intends (it saw none of them, nor the
//               conflict a tombstone among them is).
//
// Why not "the tombstones' clocks" beside live values: a context is a
// version vector, and a vector that covers tombstone (n2, 6) covers every
// earlier n2 dot too, including values minted before it and concurrent with
// it (its past names only what its writer read). Such a context would
// silently supersede those values, and lose the history in their pasts (the
// simulator found it: a dot reused after collection, seed 11). Only a whole
// replica's clock is a sound context (write.ts: a replica holding
// (X, k) holds every X-event X knew of when it minted k).
//
// The read asks for no values (versions, clocks and which are tombstones are
// all it needs). If it cannot gather R answers:
//   - a delete writes nothing and its QuorumError (op 'read') goes to the
//     caller: a tombstone minted without the read would cover only what its
//     origin holds, the very delete that gets undone (issue 16);
//   - a put is written anyway, as it was before reads came first (a new
//     sibling; for 'everything', over what the origin holds): Dynamo keeps
//     writes available on a minority side (§4.6 "always writeable"), and a
//     put that missed a delete is at worst in visible conflict with it.

import { QuorumError, type GetRequest, type GetResult, type PutRequest, type PutResult } from './types.js';
import type { VersionVector } from '../version/dvv.js';

/** What a read-first write needs from the coordinator (coordinator.ts implements it). */
export interface ReadFirstCoordinator {
  get(req: GetRequest): Promise<GetResult>;
  put(req: PutRequest): Promise<PutResult>;
}

export type Supersede = 'everything' | 'tombstones';

export interface ReadFirstRequest extends Omit<PutRequest, 'context' | 'supersedeVisible'> {
  readonly supersede: Supersede;
  /** Replicas the read must hear from (the bucket's R by default). */
  readonly r?: number;
}

export interface ReadFirstResult extends PutResult {
  /** The replicas the read heard from, and the context it minted the write with. */
  readonly read: { readonly replicasRead: GetResult['replicasRead']; readonly context: VersionVector };
}

/**
 * BUGGIFY-style switch (see CoordinatorBugs): off unless the simulator sets
 * it, to show that its delete-after-write checker notices the old behaviour.
 */
export interface ReadFirstBugs {
  /** A context-less delete does not read: it supersedes only what its origin replica holds (the behaviour before issue 16). */
  readonly deleteFromOriginOnly?: boolean;
}

/** The context a read-first write is minted with: the whole read's, or (tombstones) the read's only if it found nothing live. */
export function readFirstContext(read: GetResult, supersede: Supersede): VersionVector {
  if (supersede === 'everything' || read.set.siblings.every((s) => s.value === null)) return read.context;
  return {};
}

export async function writeAfterRead(coordinator: ReadFirstCoordinator, req: ReadFirstRequest, bugs?: ReadFirstBugs): Promise<ReadFirstResult> {
  const { supersede, r, ...put } = req;
  if (bugs?.deleteFromOriginOnly === true && supersede === 'everything' && req.value === null) {
    // BUGGIFY deleteFromOriginOnly: no read; the origin's clock alone is the context.
    const result = await coordinator.put({ ...put, context: null, supersedeVisible: true });
    return { ...result, read: { replicasRead: [], context: {} } };
  }
  let read: GetResult;
  try {
    read = await coordinator.get({
      bucket: req.bucket,
      key: req.key,
      omitValues: true,
      ...(req.n !== undefined ? { n: req.n } : {}),
      ...(r !== undefined ? { r } : {}),
      ...(req.sloppy !== undefined ? { sloppy: req.sloppy } : {}),
      // A put's default look reads one replica: the first that answers, asked one at a time (this node first).
      ...(r === 1 && req.value !== null ? { oneAtATime: true } : {}),
    });
  } catch (err) {
    if (req.value === null || !(err instanceof QuorumError) || err.op !== 'read') throw err;
    const result = await coordinator.put({ ...put, context: null, supersedeVisible: supersede === 'everything' });
    return { ...result, read: { replicasRead: err.answered, context: {} } };
  }
  const context = readFirstContext(read, supersede);
  const result = await coordinator.put({ ...put, context, supersedeVisible: supersede === 'everything' });
  return { ...result, read: { replicasRead: read.replicasRead, context } };
}

/** How many replicas a context-less put reads unless the request says: the first to answer (usually the coordinator's own). */
export const PUT_READ_R = 1;

/**
 * The native API's rule for every write (docs/api.md, "Which writes
 * supersede what"): with a context, exactly what that context covers;
 * without one, a delete supersedes everything a read of `r` replicas (the
 * bucket's R) saw and its origin holds, and a put supersedes what a read of
 * `r` replicas (PUT_READ_R unless the request set r) saw if it found the
 * key deleted, and is a new sibling otherwise. A put reads one replica by
 * default so that a write never waits on a quorum read (a minority side of
 * a partition stays writable at full speed); `?r=2&sloppy=false` buys the
 * quorum guarantee.
 */
export function nativeWrite(coordinator: ReadFirstCoordinator, req: PutRequest, r: number | undefined): Promise<PutResult | ReadFirstResult> {
  if (req.context !== null) return coordinator.put({ ...req, supersedeVisible: false });
  if (req.value === null) return writeAfterRead(coordinator, { ...req, supersede: 'everything', ...(r !== undefined ? { r } : {}) });
  return writeAfterRead(coordinator, { ...req, supersede: 'tombstones', r: r ?? PUT_READ_R });
}
