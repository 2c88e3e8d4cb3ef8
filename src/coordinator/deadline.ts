// How long a coordinator waits for one replica's answer. A fixed deadline
// suits small requests, whose time is a round trip and one commit; a 4 MiB
// chunk also has to cross the wire and reach the disk behind every other
// chunk queued there, so under load a fixed 3 s failed every 16 MiB S3 PUT
// at concurrency 4 (BENCHMARKS.md, session 5) although no replica was down.
// The deadline therefore grows with the bytes the request carries, at a
// floor rate below which the replica counts as failed. A dead replica is
// still found by membership (SWIM) for the next request; the cost of the
// longer deadline is that a write already under way waits longer before a
// fallback stands in (Dynamo §4.6).

import type { CoordinatorConfig } from './deps.js';
import type { Request } from '../transport/messages.js';

/** The value bytes a request ships (0 for requests that carry no values). */
export function requestValueBytes(req: Request): number {
  switch (req.type) {
    case 'putOrigin':
      return req.value?.byteLength ?? 0;
    case 'putReplica': {
      let n = 0;
      for (const s of req.set.siblings) n += s.value?.byteLength ?? 0;
      return n;
    }
    default:
      return 0;
  }
}

/** The deadline of one replica request: the base deadline plus the time its values take at the floor rate. */
export function replicaDeadlineMs(config: CoordinatorConfig, req: Request): number {
  const rate = config.replicaFloorBytesPerSec ?? DEFAULT_REPLICA_FLOOR_BYTES_PER_SEC;
  // floor, not ceil: requests of a few bytes keep exactly the base deadline.
  return config.replicaTimeoutMs + Math.floor((requestValueBytes(req) * 1000) / rate);
}

/** 2 MiB/s: a 4 MiB chunk gets 2 s on top of the base deadline. */
export const DEFAULT_REPLICA_FLOOR_BYTES_PER_SEC = 2 * 1024 * 1024;
