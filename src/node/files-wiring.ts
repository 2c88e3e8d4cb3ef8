// How a node builds the per-user file index and starts the public file API:
// kept here so that node/node.ts needs only a few lines (see the calls there).

import type { GrpcListenerLimits } from '../transport/grpc-limits.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import type { Quorum } from '../coordinator/types.js';
import type { Placement } from '../ring/view.js';
import type { Transport } from '../transport/transport.js';
import type { NodeId } from '../version/dvv.js';
import type { Clock } from '../util/runtime.js';
import type { HostPort } from '../node/config.js';
import { bindFilesServer, type BoundFilesServer, type FilesTls } from '../files/service.js';
import { UserIndex } from '../coordinator/user-index.js';

interface Log {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export function createUserIndex(opts: {
  coordinator: Coordinator;
  transport: Transport;
  ring: () => Placement;
  liveness: { isAlive(node: NodeId): boolean };
  quorum: Quorum;
  now: () => number;
  clock: Pick<Clock, 'setTimer'>;
  logger: Log;
  /** catalog: whether an entry's bucket name and id are the bucket of that name now. */
  isCurrent?: (bucket: string, bucketId: number | undefined) => boolean;
}): UserIndex {
  return new UserIndex({
    self: opts.transport.self,
    coordinator: opts.coordinator,
    transport: opts.transport,
    ring: opts.ring,
    isAlive: (id) => id === opts.transport.self || opts.liveness.isAlive(id),
    now: opts.now,
    n: opts.quorum.n,
    r: opts.quorum.r,
    clock: opts.clock,
    ...(opts.isCurrent !== undefined ? { isCurrent: opts.isCurrent } : {}),
    onError: (err, what) => opts.logger.warn({ err, component: 'user-index' }, `${what} failed; the entry is corrected by the file's next write`),
  });
}

/** Binds the file API's port: first thing in startNode, so nothing takes the port meanwhile. */
export function bindFilesApi(listen: HostPort, limits?: GrpcListenerLimits, tls?: FilesTls): Promise<BoundFilesServer> {
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return bindFilesServer(`${host}:${listen.port}`, limits, tls);
}
