// The fault workload of a Raft run: partitions (one node cut off, or the
// cluster split in two), crashes with restarts after a while. Message loss,
// duplication, jitter and clock drift live in the cluster itself.

import type { Random } from '../../util/runtime.js';
import type { Scheduler } from '../scheduler.js';
import type { RaftSimCluster, SimRaftNode } from './cluster.js';
import { shuffle } from '../../util/runtime.js';

export class RaftFaultDriver {
  private stopped = false;

  constructor(
    private readonly cluster: RaftSimCluster,
    private readonly sched: Scheduler,
    private readonly random: Random,
  ) {}

  start(): void {
    const f = this.cluster.config.faults;
    const k = f.churn ? 0.2 : 1;
    if (f.partitions) this.loop(1000 * k, 5000 * k, () => this.partition());
    if (f.crashes) this.loop(1500 * k, 6000 * k, () => this.crash());
    if (f.crashes) {
      // Now and then a crash lands while a write is on its way to disk: what the Ready promised must not have left the node.
      this.cluster.onDiskWrite = (n, ms) => {
        if (!this.stopped && this.random.next() < 0.01) {
          this.sched.schedule(this.random.next() * ms, '', () => {
            // Healing restarted every node and stopped the faults: a crash still scheduled then would leave a node down for good.
            if (!this.stopped) this.crashNode(n);
          });
        }
      };
    }
    if (f.churn) {
      // Strike a new leader within a round trip or two of its election, while what it sends to catch followers up is still in flight.
      this.cluster.onNewLeader = (n) => {
        if (this.stopped || this.random.next() < 0.15) return;
        // A few round trips: long enough for it to start catching followers up, too short to finish.
        // Half the time before its first messages can land (its noop stays its own), half within a few round trips (mid catch-up).
        const oneWayMs = this.cluster.config.netDelayMs[1];
        const delay = this.random.next() < 0.5 ? this.random.next() * oneWayMs : this.random.next() * 8 * oneWayMs;
        this.sched.schedule(delay, '', () => {
          if (this.stopped || !n.up) return;
          if (f.crashes && this.random.next() < 0.25) return this.crashNode(n);
          this.cluster.partition([[n.id], this.cluster.ids.filter((id) => id !== n.id)]);
        });
      };
      // Now and then cut a leader off the moment it commits, before it can tell anyone (Figure 8's step (c)->(d)).
      this.cluster.onLeaderCommit = (n) => {
        if (!this.stopped && this.random.next() < 0.1) this.cluster.partition([[n.id], this.cluster.ids.filter((id) => id !== n.id)]);
      };
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private loop(minMs: number, maxMs: number, fn: () => void): void {
    this.sched.schedule(minMs + this.random.int(maxMs - minMs), '', () => {
      if (this.stopped) return;
      fn();
      this.loop(minMs, maxMs, fn);
    });
  }

  private partition(): void {
    const ids = this.cluster.ids;
    const p = this.random.next();
    if (p < 0.4) return this.cluster.heal();
    const leader = this.cluster.leader();
    if (this.cluster.config.faults.churn && leader !== undefined && this.random.next() < 0.5) {
      // Cut the leader off (alone, or with one other node), so that what it appends next stays uncommitted.
      const others = shuffle(ids.filter((id) => id !== leader.id), this.random);
      const withIt = this.random.next() < 0.5 ? others.slice(0, 1) : [];
      return this.cluster.partition([[leader.id, ...withIt], others.slice(withIt.length)]);
    }
    const order = shuffle(ids, this.random);
    if (p < 0.7) {
      this.cluster.partition([order.slice(0, 1), order.slice(1)]);
    } else {
      const cut = 1 + this.random.int(order.length - 1);
      this.cluster.partition([order.slice(0, cut), order.slice(cut)]);
    }
  }

  private crash(): void {
    const up = this.cluster.ids.map((id) => this.cluster.node(id)).filter((n) => n.up);
    if (up.length === 0) return;
    const leader = this.cluster.leader();
    const n = this.cluster.config.faults.churn && leader !== undefined && this.random.next() < 0.5 ? leader : up[this.random.int(up.length)];
    if (n !== undefined) this.crashNode(n);
  }

  private crashNode(n: SimRaftNode): void {
    this.cluster.crash(n);
    const downMs = this.cluster.config.faults.churn ? 100 + this.random.int(1500) : 300 + this.random.int(4000);
    this.sched.schedule(downMs, '', () => {
      if (!this.stopped) this.cluster.restart(n);
    });
  }
}
