// The layout history in a node process (issue 10, docs/layout.md): the data
// path's placement read from the control state, the failure detector's
// member list following the layout, and the mover (src/layout/mover.ts) that
// reports progress, syncs gained partitions and drops lost ones, over the
// node's real store, anti-entropy exchange and control plane.

import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { RaftDriver } from '../control/driver.js';
import type { NodeComponents } from '../components/build-node.js';
import { HistoryPlacement } from '../layout/placement.js';
import { DEFAULT_MOVER_CONFIG, LayoutMover } from '../layout/mover.js';
import type { LayoutHistory } from '../layout/history.js';
import type { Placement } from '../ring/view.js';
import type { Ring } from '../ring/ring.js';
import type { Clock } from '../util/runtime.js';
import { moverDepsFrom } from '../components/mover-deps.js';


/** The data path's placement: the layout history once it has a version, the ring from configuration before. */
export function placementFrom(plane: Pick<RaftDriver, 'state'>, fallback: Ring): () => Placement {
  let cachedFor: LayoutHistory | undefined;
  let cached: Placement = fallback;
  return () => {
    const h = plane.state.layoutHistory();
    if (h !== cachedFor) {
      cachedFor = h;
      cached = h.versions.length === 0 ? fallback : new HistoryPlacement(h);
    }
    return cached;
  };
}

export interface LayoutWiringDeps {
  readonly self: string;
  readonly plane: RaftDriver;
  readonly placement: () => Placement;
  readonly components: NodeComponents;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly quorum: { readonly n: number; readonly r: number };
  readonly bytesPerSecond?: number;
  readonly intervalMs?: number;
}

export interface LayoutWiring {
  readonly mover: LayoutMover;
  stop(): void;
}

export function startLayoutWiring(deps: LayoutWiringDeps): LayoutWiring {
  const { self, plane, components, logger } = deps;
  const log = logger.child({ component: 'layout' });
  const mover = new LayoutMover(
    {
      self,
      clock: deps.clock,
      history: () => plane.state.layoutHistory(),
      placement: deps.placement,
      report: async (p) => {
        const r = await plane.propose({ type: 'layoutProgress', node: self, ...p });
        if (!r.ok) throw new Error(`layoutProgress refused: ${r.code}: ${r.message}`);
        log.info(p, 'layout: progress reported');
      },
      ...moverDepsFrom(components),
      log: (level, msg, fields) => log[level](fields ?? {}, msg),
    },
    { ...DEFAULT_MOVER_CONFIG, n: deps.quorum.n, r: deps.quorum.r, ...(deps.bytesPerSecond !== undefined ? { bytesPerSecond: deps.bytesPerSecond } : {}), ...(deps.intervalMs !== undefined ? { intervalMs: deps.intervalMs } : {}) },
  );

  // SWIM follows the layout: nodes that joined are probed, nodes gone from it are forgotten.
  const swim = components.membership.swim?.swim;
  let known = '';
  const followMembers = (): void => {
    if (swim === undefined) return;
    const ids = new Set<string>(plane.state.layout().nodes.map((n) => n.id));
    for (const v of plane.state.layoutHistory().versions) for (const m of v.members) ids.add(m.id);
    if (ids.size === 0) return;
    const key = [...ids].sort().join(',');
    if (key === known) return;
    known = key;
    for (const id of ids) swim.addMember(id);
    for (const m of swim.members()) if (!ids.has(m.id) && m.id !== self) swim.removeMember(m.id);
  };

  let history = plane.state.layoutHistory();
  const unsubscribe = plane.onApplied(() => {
    followMembers();
    const h = plane.state.layoutHistory();
    if (h === history) return;
    history = h;
    mover.poke();
  });
  followMembers();
  mover.start();

  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [deps.registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('ringstore_layout_version', 'Newest layout version this node routes writes by', () => deps.placement().version);
  gauge('ringstore_layout_read_version', 'Layout version this node reads from', () => deps.placement().readVersion);
  gauge('ringstore_layout_live_versions', 'Layout versions live at once (more than 1 while data moves)', () => deps.placement().liveVersions);
  gauge('ringstore_layout_sync_partitions_total', 'Partitions this node holds and must sync for the version it is syncing', () => mover.status().partitionsTotal);
  gauge('ringstore_layout_sync_partitions_done', 'Partitions of them synced so far', () => mover.status().partitionsDone);
  gauge('ringstore_layout_sync_bytes_pulled', 'Value bytes pulled by layout syncs since start', () => mover.status().bytesPulled);
  gauge('ringstore_layout_partitions_dropped', 'Partitions dropped since start because no live version gives them to this node', () => mover.status().partitionsDropped);

  return {
    mover,
    stop: () => {
      unsubscribe();
      mover.stop();
    },
  };
}
