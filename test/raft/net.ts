// A tiny synchronous network of RawNodes for unit tests: stabilize() hands
// every Ready to its node's MemoryStorage, delivers every message (unless a
// filter drops it) and repeats until nothing moves.

import { RawNode, MemoryStorage, type Message, type NodeId, type RaftBugs, type Ready } from '../../src/raft/index.js';
import type { Random } from '../../src/util/runtime.js';

export interface NetOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  maxMsgEntries?: number;
  bugs?: RaftBugs;
  learners?: NodeId[];
}

const dec = new TextDecoder();

export class Net {
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  readonly applied = new Map<NodeId, string[]>();
  readonly readStates = new Map<NodeId, { index: number; ctx: string }[]>();
  /** Messages matching this are dropped. */
  drop: (m: Message) => boolean = () => false;
  private queue: Message[] = [];
  readonly sent: Message[] = [];

  constructor(
    ids: NodeId[],
    private readonly opts: NetOptions = {},
  ) {
    const conf = { voters: ids.filter((id) => !(opts.learners ?? []).includes(id)), learners: opts.learners ?? [] };
    for (const id of ids) {
      const s = MemoryStorage.bootstrap(conf);
      this.storages.set(id, s);
      this.start(id);
    }
  }

  /** Starts (or restarts from its storage) a node; its election timeout is pinned to electionTick plus `jitter`. */
  start(id: NodeId, jitter = 0): RawNode {
    const random: Random = { next: () => 0, int: (k) => jitter % k };
    const n = new RawNode({ id, storage: this.storages.get(id) as MemoryStorage, random, preVote: this.opts.preVote ?? true, checkQuorum: this.opts.checkQuorum ?? true, maxMsgEntries: this.opts.maxMsgEntries ?? 64, bugs: this.opts.bugs ?? {} });
    this.nodes.set(id, n);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    return n;
  }

  node(id: NodeId): RawNode {
    return this.nodes.get(id) as RawNode;
  }

  join(id: NodeId): RawNode {
    this.storages.set(id, new MemoryStorage());
    return this.start(id);
  }

  private handle(id: NodeId, rd: Ready): void {
    const s = this.storages.get(id) as MemoryStorage;
    if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
    s.append(rd.entries);
    if (rd.hardState !== undefined) s.setHardState(rd.hardState);
    for (const m of rd.messages) {
      this.sent.push(m);
      if (!this.drop(m)) this.queue.push(m);
    }
    for (const e of rd.committedEntries) if (e.kind === 'normal' && e.data.length > 0) this.applied.get(id)?.push(dec.decode(e.data));
    this.readStates.get(id)?.push(...rd.readStates);
  }

  /** Runs every node's Ready and delivers messages until quiet. */
  stabilize(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const [id, n] of this.nodes) {
        if (!n.hasReady()) continue;
        this.handle(id, n.ready());
        n.advance();
        moved = true;
      }
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        if (this.drop(m)) continue;
        this.nodes.get(m.to)?.step(m);
        moved = true;
      }
      if (!moved) return;
    }
    throw new Error('network did not settle');
  }

  /** Cuts `id` off from everyone. */
  isolate(...ids: NodeId[]): void {
    this.drop = (m) => ids.includes(m.from) !== ids.includes(m.to);
  }

  heal(): void {
    this.drop = () => false;
  }

  tickElection(id: NodeId, extra = 0): void {
    const n = this.node(id);
    for (let i = 0; i < n.raft.electionTimeout + extra; i++) n.tick();
  }

  propose(id: NodeId, text: string): ReturnType<RawNode['propose']> {
    return this.node(id).propose(new TextEncoder().encode(text));
  }

  leader(): NodeId | undefined {
    for (const [id, n] of this.nodes) if (n.raft.state === 'leader') return id;
    return undefined;
  }
}
