// `ringstore server --join HOST:PORT` (docs/raft.md, "Joining"): a node with
// an empty Raft folder asks a member (HOST:PORT is any member's HTTP address)
// to record it in the layout (POST /cluster/control/join, an addNode); the
// leader then adds it to Raft as a learner (control/driver-voters.ts) and
// sends it a snapshot and the log. The request is repeated until this node
// is in the Raft configuration it applied: a lost answer, a member down or a
// leader election on the way only delay it (the route is idempotent).

import type { Logger } from 'pino';
import type { LayoutNode } from '../control/commands.js';
import type { RaftDriver } from '../control/driver.js';
import type { Clock, Timer } from '../util/runtime.js';

export interface JoinDeps {
  readonly self: LayoutNode;
  /** host:port (or a URL) of any member's HTTP API. */
  readonly via: string;
  readonly plane: RaftDriver;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Learns the members' addresses from the answer (so that this node can answer the leader). */
  readonly learnPeers: (nodes: readonly LayoutNode[]) => void;
  readonly retryMs?: number;
}

export function joinCluster(deps: JoinDeps): { stop(): void } {
  const base = deps.via.includes('://') ? deps.via.replace(/\/+$/, '') : `http://${deps.via}`;
  const retryMs = deps.retryMs ?? 2000;
  let timer: Timer | undefined;
  let stopped = false;
  let attempts = 0;
  const member = (): boolean => {
    const s = deps.plane.status();
    return s.voters.includes(deps.self.id) || s.learners.includes(deps.self.id);
  };
  const attempt = async (): Promise<void> => {
    if (stopped) return;
    if (member()) {
      deps.logger.info({ via: base, attempts }, `raft: joined the cluster as ${deps.plane.status().voters.includes(deps.self.id) ? 'a voter' : 'a learner'}`);
      return;
    }
    attempts++;
    try {
      const res = await fetch(`${base}/cluster/control/join`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(deps.self),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json().catch(() => ({}))) as { layout?: { nodes?: LayoutNode[] }; error?: { code?: string; message?: string } };
      if (res.ok && body.layout?.nodes !== undefined) {
        deps.learnPeers(body.layout.nodes);
        if (attempts === 1 || attempts % 10 === 0) deps.logger.info({ via: base }, 'raft: recorded in the layout; waiting for the leader to add this node as a learner');
      } else {
        deps.logger.warn({ via: base, status: res.status, code: body.error?.code }, `raft: join through ${base} refused: ${body.error?.message ?? res.status}`);
      }
    } catch (err) {
      deps.logger.warn({ via: base }, `raft: cannot reach ${base} to join: ${(err as Error).message} (retrying every ${retryMs} ms)`);
    }
    if (!stopped) timer = deps.clock.setTimer(retryMs, () => void attempt());
  };
  void attempt();
  return {
    stop: () => {
      stopped = true;
      timer?.cancel();
    },
  };
}
