// Which replicas a request goes to (Dynamo §4.6 sloppy quorum), how a
// failed replica's reason is told, and which failures leave a write
// certainly unapplied.

import type { ReplicaFailure } from './types.js';
import type { CoordinatorEnv } from './deps.js';
import { TransportError } from '../transport/transport.js';
import type { NodeId } from '../version/dvv.js';
import { errorCode, errorMessage, RefusedError } from '../util/errors.js';

/** A replica a request is sent to: an owner, or a fallback standing in for `hintFor`. */
export interface Target {
  readonly node: NodeId;
  readonly hintFor: NodeId | null;
}

/**
 * Sloppy quorum (Dynamo §4.6): owners the local view holds dead are
 * replaced, in order, by the next live fallback nodes on the ring, each
 * write carrying a hint naming the owner it stands in for.
 */
export function chooseTargets(env: CoordinatorEnv, owners: readonly NodeId[], fallbacks: readonly NodeId[], sloppy: boolean): { chosen: Target[]; failed: ReplicaFailure[] } {
  const { liveness } = env.deps;
  const chosen: Target[] = [];
  const failed: ReplicaFailure[] = [];
  const spare = fallbacks.filter((f) => liveness.isAlive(f));
  for (const owner of owners) {
    if (owner === env.self || liveness.isAlive(owner)) {
      chosen.push({ node: owner, hintFor: null });
      continue;
    }
    const stand = sloppy ? spare.shift() : undefined;
    if (stand !== undefined) {
      chosen.push({ node: stand, hintFor: owner });
      env.deps.events?.hintedWrite?.(stand, owner);
    } else {
      failed.push({ node: owner, code: 'NodeDown', reason: 'down in the local membership view' });
    }
  }
  return { chosen, failed };
}

/** A live fallback to take the place of `t` after it failed in this write, if sloppy quorum allows one. */
export function standIn(env: CoordinatorEnv, t: Target, spare: NodeId[]): Target | undefined {
  const owner = t.hintFor ?? t.node;
  if (owner === env.self) return undefined;
  const node = spare.shift();
  if (node === undefined) return undefined;
  env.deps.events?.hintedWrite?.(node, owner);
  return { node, hintFor: owner };
}

/** The request certainly did nothing: never delivered, or refused before anything was done (a full hint table, a stale copy). */
export function certainlyNotApplied(err: unknown): boolean {
  return err instanceof TransportError && (err.kind === 'unreachable' || err.remote instanceof RefusedError);
}

/** Why a replica failed, as a quorum error reports it: the remote's own code and message, or how the network failed. */
export function replicaFailure(node: NodeId, err: unknown): ReplicaFailure {
  if (err instanceof TransportError) {
    if (err.remote !== undefined) return { node, code: err.remote.code, reason: err.remote.message };
    return { node, code: err.kind === 'timeout' ? 'Timeout' : 'Unreachable', reason: err.kind };
  }
  return { node, code: errorCode(err), reason: errorMessage(err) };
}
