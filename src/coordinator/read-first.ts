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
//   tombstones  the write supersedes only the deletes the read saw (a
//               context-less native PUT): values it did not see stay beside
//               it as siblings, as Dynamo intends, but a key deleted before
//               the PUT was issued is re-created, not left in conflict with
//               its own delete.
//
// The read asks for no values (versions, clocks and which are tombstones are
// all it needs). If it cannot gather R answers, nothing is written and its
// QuorumError (op 'read') goes to the caller.

import type { GetRequest, GetResult, PutRequest, PutResult } from './types.js';
import { siblingClock, vvJoin, type VersionVector } from '../version/dvv.js';

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

/** The context a read-first write is minted with: the whole read, or only its tombstones. */
export function readFirstContext(read: GetResult, supersede: Supersede): VersionVector {
  if (supersede === 'everything') return read.context;
  let vv: VersionVector = {};
  for (const s of read.set.siblings) if (s.value === null) vv = vvJoin(vv, siblingClock(s));
  return vv;
}

export async function writeAfterRead(coordinator: ReadFirstCoordinator, req: ReadFirstRequest, bugs?: ReadFirstBugs): Promise<ReadFirstResult> {
  const { supersede, r, ...put } = req;
  if (bugs?.deleteFromOriginOnly === true && supersede === 'everything' && req.value === null) {
    // BUGGIFY deleteFromOriginOnly: no read; the origin's clock alone is the context.
    const result = await coordinator.put({ ...put, context: null, supersedeVisible: true });
    return { ...result, read: { replicasRead: [], context: {} } };
  }
  const read = await coordinator.get({
    bucket: req.bucket,
    key: req.key,
    omitValues: true,
    ...(req.n !== undefined ? { n: req.n } : {}),
    ...(r !== undefined ? { r } : {}),
    ...(req.sloppy !== undefined ? { sloppy: req.sloppy } : {}),
  });
  const context = readFirstContext(read, supersede);
  const result = await coordinator.put({ ...put, context, supersedeVisible: supersede === 'everything' });
  return { ...result, read: { replicasRead: read.replicasRead, context } };
}

/**
 * The native API's rule for every write (docs/api.md, "Which writes
 * supersede what"): with a context, exactly what that context covers;
 * without one, a delete supersedes everything a read quorum saw and its
 * origin holds, and a put supersedes the deletes a read quorum saw (and adds
 * a sibling beside any value).
 */
export function nativeWrite(coordinator: ReadFirstCoordinator, req: PutRequest, r: number | undefined): Promise<PutResult | ReadFirstResult> {
  if (req.context !== null) return coordinator.put({ ...req, supersedeVisible: false });
  return writeAfterRead(coordinator, { ...req, supersede: req.value === null ? 'everything' : 'tombstones', ...(r !== undefined ? { r } : {}) });
}
