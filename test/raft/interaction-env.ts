// A scripted cluster of Raft nodes for scenario transcripts (the manner of
// etcd-io/raft's interaction tests): every command prints what happened, so
// a test file holds a script and the exact transcript it must produce.
//
// Messages are queued, not delivered, until `deliver-msgs` or `stabilize`
// says so; `process-ready` persists a node's Ready to its MemoryStorage,
// queues its messages and applies its committed entries. The election timeout
// is pinned to electionTick (the injected Random always draws 0).

import { RawNode, MemoryStorage, describeConfState, decodeConfChange, type ConfChange, type Entry, type Message, type NodeId, type Ready } from '../../src/raft/index.js';

const dec = new TextDecoder();
const enc = new TextEncoder();


interface EnvNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: string[];
  options: NodeOptions;
}

interface NodeOptions {
  preVote: boolean;
  checkQuorum: boolean;
  maxMsgEntries: number;
  electionTick: number;
  /** Added to electionTick for the randomised election timeout (the draw is pinned, so scripts control who times out first). */
  jitter: number;
  /** Test-only Raft bug switches (raft.ts RaftBugs), to show a transcript changes when one is on. */
  bugs: Record<string, boolean>;
}

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly kv: ReadonlyMap<string, string>;
}

export function parseCommand(line: string): Command {
  const words = line.trim().split(/\s+/);
  const name = words.shift() ?? '';
  const args: string[] = [];
  const kv = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq > 0) kv.set(w.slice(0, eq), w.slice(eq + 1));
    else args.push(w);
  }
  return { name, args, kv };
}

function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const inner = v.replace(/^\(/, '').replace(/\)$/, '');
  return inner === '' ? [] : inner.split(',');
}

export function describeEntry(e: Entry): string {
  if (e.kind === 'conf') {
    const cc = decodeConfChange(e.data);
    return `${e.term}/${e.index} conf ${cc.type} ${cc.node}`;
  }
  return `${e.term}/${e.index} normal ${JSON.stringify(dec.decode(e.data))}`;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} Term:${m.term}`;
  switch (m.type) {
    case 'app':
      return `${head} Log:${m.logTerm}/${m.index} Commit:${m.commit}` + (m.entries.length > 0 ? ` Entries:[${m.entries.map(describeEntry).join(', ')}]` : '');
    case 'appResp':
      return m.reject ? `${head} Rejected (Hint: ${m.hintTerm}/${m.hintIndex}) Index:${m.index}` : `${head} Index:${m.index}`;
    case 'vote':
    case 'preVote':
      return `${head} Log:${m.logTerm}/${m.index}` + (m.transfer ? ' Transfer' : '');
    case 'voteResp':
    case 'preVoteResp':
      return m.reject ? `${head} Rejected` : head;
    case 'heartbeat':
      return `${head} Commit:${m.commit}` + (m.ctx !== '' ? ` Ctx:${m.ctx}` : '');
    case 'heartbeatResp':
      return m.ctx !== '' ? `${head} Ctx:${m.ctx}` : head;
    case 'snap':
      return `${head} Snapshot: Index:${m.snapshot.meta.index} Term:${m.snapshot.meta.term} ${describeConfState(m.snapshot.meta.conf)}`;
    case 'timeoutNow':
      return head;
    case 'prop':
      return `${head} Entries:${m.entries.length}`;
    case 'readIndex':
      return `${head} Ctx:${m.ctx}`;
    case 'readIndexResp':
      return `${head} Ctx:${m.ctx} Index:${m.index}`;
  }
}

export class InteractionEnv {
  private readonly nodes = new Map<NodeId, EnvNode>();
  private queue: Message[] = [];
  /** Messages a partition dropped since the last delivery, reported then. */
  private dropped: Message[] = [];
  /** Node id -> partition group; messages between groups are dropped on delivery. */
  private groups: Map<NodeId, number> | undefined;
  private out: string[] = [];
  private logging = true;

  run(cmd: Command): string {
    this.out = [];
    try {
      this.dispatch(cmd);
    } catch (err) {
      this.print(`error: ${err instanceof Error ? err.message : String(err)}`, true);
    }
    return this.out.length === 0 ? 'ok' : this.out.join('\n');
  }

  /** Output, silenced by `log-level none` unless it answers a query (raft-state, raft-log, applied) or reports a refusal. */
  private print(line: string, always = false): void {
    if (this.logging || always) this.out.push(line);
  }

  private ids(cmd: Command): NodeId[] {
    return cmd.args.length > 0 ? [...cmd.args] : [...this.nodes.keys()];
  }

  private get(id: NodeId | undefined): EnvNode {
    const n = this.nodes.get(id ?? '');
    if (n === undefined) throw new Error(`no node ${id ?? ''}`);
    return n;
  }

  private dispatch(cmd: Command): void {
    const a0 = cmd.args[0];
    switch (cmd.name) {
      case 'add-nodes':
        return this.addNodes(Number(a0), cmd);
      case 'log-level':
        this.logging = a0 !== 'none';
        return;
      case 'campaign':
        return this.get(a0).node.campaign();
      case 'tick-election': {
        // Enough ticks for this node's election timeout to fire.
        const n = this.get(a0);
        for (let i = 0; i < n.options.electionTick + n.options.jitter; i++) n.node.tick();
        return;
      }
      case 'tick': {
        const n = this.get(a0);
        for (let i = 0; i < Number(cmd.args[1] ?? 1); i++) n.node.tick();
        return;
      }
      case 'tick-heartbeat':
        return this.get(a0).node.tick();
      case 'propose': {
        const r = this.get(a0).node.propose(enc.encode(cmd.args[1] ?? ''));
        if (!r.ok) this.print(`refused: ${r.reason}`, true);
        return;
      }
      case 'propose-conf-change': {
        const type = cmd.args[1] as ConfChange['type'];
        const r = this.get(a0).node.proposeConfChange({ type, node: cmd.args[2] ?? '' });
        if (!r.ok) this.print(`refused: ${r.reason}`, true);
        return;
      }
      case 'read-index': {
        const ok = this.get(a0).node.readIndex(cmd.args[1] ?? '');
        if (!ok) this.print('refused: no leader to ask', true);
        return;
      }
      case 'transfer-leadership': {
        const ok = this.get(cmd.kv.get('from')).node.transferLeader(cmd.kv.get('to') ?? '');
        if (!ok) this.print('refused', true);
        return;
      }
      case 'process-ready':
        for (const id of this.ids(cmd)) this.processReady(this.get(id));
        return;
      case 'deliver-msgs':
        for (const id of this.ids(cmd)) this.deliver(id, cmd.kv.get('drop') === 'true');
        return;
      case 'stabilize':
        return this.stabilize(this.ids(cmd));
      case 'partition':
        return this.partition(cmd);
      case 'heal':
        this.groups = undefined;
        return;
      case 'restart':
        return this.restart(this.get(a0));
      case 'compact':
        return this.compact(this.get(a0), Number(cmd.args[1]));
      case 'raft-log':
        return this.raftLog(this.get(a0));
      case 'raft-state':
        return this.raftState();
      case 'applied':
        for (const id of this.ids(cmd)) this.print(`${id}: ${this.get(id).applied.join(' ')}`, true);
        return;
      default:
        throw new Error(`unknown command ${cmd.name}`);
    }
  }

  private addNodes(count: number, cmd: Command): void {
    const first = this.nodes.size + 1;
    const ids = Array.from({ length: count }, (_, i) => String(first + i));
    const voters = list(cmd.kv.get('voters')) ?? ids;
    const learners = list(cmd.kv.get('learners')) ?? [];
    const jitter = list(cmd.kv.get('jitter'));
    ids.forEach((id, i) => {
      const options: NodeOptions = {
        preVote: cmd.kv.get('prevote') !== 'false',
        checkQuorum: cmd.kv.get('checkquorum') !== 'false',
        maxMsgEntries: Number(cmd.kv.get('max-msg-entries') ?? 64),
        electionTick: 10,
        jitter: Number(jitter?.[i] ?? 0),
        bugs: Object.fromEntries((list(cmd.kv.get('bugs')) ?? []).map((b) => [b, true])),
      };
      // A joining node starts empty and learns the configuration from the leader's snapshot.
      const join = cmd.kv.get('join') === 'true';
      const storage = join ? new MemoryStorage() : MemoryStorage.bootstrap({ voters, learners });
      const n: EnvNode = { id, storage, applied: [], options, node: this.makeNode(id, storage, options) };
      this.nodes.set(id, n);
      this.print(join ? `${id} started empty, to join` : `${id} started ${describeConfState({ voters, learners })}`);
    });
  }

  private makeNode(id: NodeId, storage: MemoryStorage, o: NodeOptions): RawNode {
    return new RawNode({
      id,
      storage,
      random: { next: () => 0, int: (k: number) => o.jitter % k },
      electionTick: o.electionTick,
      heartbeatTick: 1,
      preVote: o.preVote,
      checkQuorum: o.checkQuorum,
      maxMsgEntries: o.maxMsgEntries,
      bugs: o.bugs,
      logger: (line) => {
        this.print(`INFO ${line}`);
      },
    });
  }

  private processReady(n: EnvNode): boolean {
    if (!n.node.hasReady()) return false;
    const rd = n.node.ready();
    this.print(`> ${n.id} handling Ready`);
    this.printReady(rd);
    // Persist, then send, then apply: the order raw-node.ts requires.
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    // A partition drops what crosses it as it is sent, as a cut link would.
    for (const m of rd.messages) {
      if (this.cut(m)) this.dropped.push(m);
      else this.queue.push(m);
    }
    if (rd.snapshot !== undefined) n.applied = rd.snapshot.data.length > 0 ? dec.decode(rd.snapshot.data).split(' ') : [];
    for (const e of rd.committedEntries) if (e.kind === 'normal' && e.data.length > 0) n.applied.push(dec.decode(e.data));
    n.node.advance();
    return true;
  }

  private printReady(rd: Ready): void {
    this.print(`  Ready MustSync=${rd.mustSync}:`);
    if (rd.softState !== undefined) this.print(`  Lead:${rd.softState.lead || '-'} State:${rd.softState.state}`);
    if (rd.hardState !== undefined) this.print(`  HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote || '-'} Commit:${rd.hardState.commit}`);
    if (rd.snapshot !== undefined) this.print(`  Snapshot Index:${rd.snapshot.meta.index} Term:${rd.snapshot.meta.term} ${describeConfState(rd.snapshot.meta.conf)}`);
    if (rd.entries.length > 0) {
      this.print('  Entries:');
      for (const e of rd.entries) this.print(`  ${describeEntry(e)}`);
    }
    if (rd.committedEntries.length > 0) {
      this.print('  CommittedEntries:');
      for (const e of rd.committedEntries) this.print(`  ${describeEntry(e)}`);
    }
    if (rd.readStates.length > 0) {
      this.print('  ReadStates:');
      for (const r of rd.readStates) this.print(`  ctx=${r.ctx} index=${r.index}`);
    }
    if (rd.messages.length > 0) {
      this.print('  Messages:');
      for (const m of rd.messages) this.print(`  ${describeMessage(m)}`);
    }
  }

  private cut(m: Message): boolean {
    if (this.groups === undefined) return false;
    return this.groups.get(m.from) !== this.groups.get(m.to);
  }

  private deliver(id: NodeId, drop: boolean): boolean {
    const mine = this.queue.filter((m) => m.to === id);
    const lost = this.dropped.filter((m) => m.to === id);
    if (mine.length === 0 && lost.length === 0) return false;
    this.queue = this.queue.filter((m) => m.to !== id);
    this.dropped = this.dropped.filter((m) => m.to !== id);
    const n = this.get(id);
    this.print(`> ${id} receiving messages`);
    for (const m of lost) this.print(`  dropped: ${describeMessage(m)}`);
    if (mine.length === 0) return false;
    for (const m of mine) {
      if (drop) {
        this.print(`  dropped: ${describeMessage(m)}`);
        continue;
      }
      this.print(`  ${describeMessage(m)}`);
      n.node.step(m);
    }
    return true;
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < 100; round++) {
      let busy = false;
      for (const id of ids) busy = this.processReady(this.get(id)) || busy;
      for (const id of ids) busy = this.deliver(id, false) || busy;
      if (!busy) return;
    }
    throw new Error('stabilize did not settle in 100 rounds');
  }

  private partition(cmd: Command): void {
    // partition 1 / 2 3  (groups separated by '/'); nodes not named form their own group.
    this.groups = new Map();
    let g = 0;
    for (const a of cmd.args) {
      if (a === '/') g++;
      else this.groups.set(a, g);
    }
    for (const id of this.nodes.keys()) if (!this.groups.has(id)) this.groups.set(id, g + 1);
  }

  private restart(n: EnvNode): void {
    // Only what was persisted survives: the node starts over from its storage, its state machine from the snapshot.
    n.node = this.makeNode(n.id, n.storage, n.options);
    const snap = n.storage.snapshot();
    n.applied = snap.data.length > 0 ? dec.decode(snap.data).split(' ') : [];
    this.queue = this.queue.filter((m) => m.to !== n.id && m.from !== n.id);
    this.print(`${n.id} restarted at term ${n.node.status().term} from snapshot ${snap.meta.index}, last index ${n.storage.lastIndex()}`);
  }

  private compact(n: EnvNode, index: number): void {
    const applied = n.node.status().applied;
    if (index !== applied) throw new Error(`compact ${n.id} at its applied index ${applied}, not ${index}`);
    // The env's state machine is the list of applied values; the snapshot holds those applied up to index, which is all of them here.
    n.storage.createSnapshot(index, n.node.confState(), enc.encode(n.applied.join(' ')));
    this.print(`${n.id} compacted to ${index}; first index now ${n.storage.firstIndex()}`);
  }

  private raftLog(n: EnvNode): void {
    const s = n.storage;
    const ents = s.entries(s.firstIndex(), s.lastIndex() + 1);
    if (ents === 'compacted' || ents.length === 0) this.print('log is empty', true);
    else for (const e of ents) this.print(describeEntry(e), true);
  }

  private raftState(): void {
    for (const n of this.nodes.values()) {
      const st = n.node.status();
      this.print(`${n.id}: ${st.state} term=${st.term} lead=${st.lead || '-'} commit=${st.commit} applied=${st.applied} last=${st.lastIndex} ${describeConfState(st.conf)}`, true);
    }
  }
}
