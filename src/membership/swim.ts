// SWIM failure detection and membership dissemination (Das et al., "SWIM:
// Scalable Weakly-consistent Infection-style Process Group Membership
// Protocol", 2002) with the Lifeguard refinements (Dadgar et al.,
// "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
// 2018), written as a deterministic state machine in the etcd-raft manner:
// the caller feeds it logical events (`tick` when time has passed, `receive`
// when a message arrived) and performs the effects it returns (messages to
// send, state changes to report). It reads the clock only through the
// injected Clock and draws randomness only from the injected Random, so a
// seeded simulation replays exactly.
//
// Membership of the layout (which nodes exist) is decided by the Raft group
// and given to us through the constructor, addMember and removeMember;
// gossip about a node outside that set is ignored. This module decides only
// liveness, as seen from this node.

import { assert } from '../util/assert.js';
import { shuffle, type Clock, type Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import { BroadcastQueue } from './broadcast.js';
import type { MemberState, MemberUpdate, SwimEffect, SwimMessage } from './messages.js';
import { Awareness, expectedConfirmations, retransmitLimit, suspicionTimeoutMinMs, suspicionTimeoutMs } from './suspicion.js';

export interface SwimConfig {
  /** Length of one protocol period (SWIM §3.1 T'), before Lifeguard stretching. */
  readonly probeIntervalMs: number;
  /** How long to wait for a direct ack before asking for indirect probes; < probeIntervalMs. */
  readonly probeTimeoutMs: number;
  /** k: members asked to probe the target indirectly (SWIM §3.1). */
  readonly indirectProbes: number;
  /** Suspicion floor = mult * max(1, log10(n + 1)) * probeIntervalMs (SWIM §4.2). */
  readonly suspicionMultiplier: number;
  /** Suspicion ceiling = this * floor; confirmations bring it down (Lifeguard §IV-B). 1 disables. */
  readonly suspicionMaxMultiplier: number;
  /** Updates piggybacked per message. */
  readonly maxPiggyback: number;
  /** Each update is piggybacked retransmitMult * ceil(log2(n + 1)) times. */
  readonly retransmitMult: number;
  /** Local health multiplier range: timeouts stretch up to this factor (Lifeguard §IV-A). 1 disables. */
  readonly maxAwareness: number;
  /** Bound on the dissemination queue (one entry per member, so > cluster size is plenty). */
  readonly maxBroadcastQueue: number;
  /** Bound on ping-reqs this node is serving at once as an intermediary. */
  readonly maxRelays: number;
  /** Bound on the number of updates read from one incoming message. */
  readonly maxUpdatesPerMessage: number;
  /** Bound on the members told directly when this node leaves. */
  readonly maxLeaveFanout: number;
}

/**
 * Defaults for a LAN cluster with a few to a few hundred nodes. At five
 * nodes a crash is suspected within about two rounds of probing and
 * declared dead 2 s (several confirmations) to 12 s (a lone accuser)
 * later. The generous ceiling is what keeps a lossy network from producing
 * false deaths: a lone, possibly mistaken accuser waits long enough for the
 * refutation to travel back.
 */
export const DEFAULT_SWIM_CONFIG: SwimConfig = Object.freeze({
  probeIntervalMs: 500,
  probeTimeoutMs: 200,
  indirectProbes: 2,
  suspicionMultiplier: 4,
  suspicionMaxMultiplier: 6,
  maxPiggyback: 8,
  retransmitMult: 3,
  maxAwareness: 8,
  maxBroadcastQueue: 1024,
  maxRelays: 64,
  maxUpdatesPerMessage: 64,
  maxLeaveFanout: 16,
});

/** The intermediary nacks at 80% of the probe timeout, so the nack reaches the requester in time (Lifeguard §IV-A). */
const NACK_FRACTION = 0.8;

/** Sequence numbers wrap here; they only need to be unique among outstanding probes. */
const SEQ_MODULUS = 0x7fffffff;

export interface MemberView {
  readonly id: NodeId;
  readonly state: MemberState;
  readonly incarnation: number;
  /** Clock ms of the last message received from this member, null if never heard from. */
  readonly lastHeardMs: number | null;
  /** Clock ms at which this node entered its current state (or was added). */
  readonly stateSinceMs: number;
}

export interface SwimCounters {
  /** Direct pings of the round-robin target. */
  probesSent: number;
  /** Probes answered, directly or through an intermediary. */
  acksReceived: number;
  /** Ping-reqs sent after a direct ping timed out. */
  indirectProbes: number;
  /** Ping-reqs served for others. */
  pingReqsServed: number;
  nacksSent: number;
  nacksReceived: number;
  /** Probes that ended without any ack. */
  probesFailed: number;
  /** Occasional pings of dead members, which let them rejoin. */
  deadProbes: number;
  /** Transitions alive -> suspect in this node's view (own accusations and gossiped ones). */
  suspicions: number;
  /** Times this node refuted an accusation about itself by raising its incarnation. */
  refutations: number;
  /** Transitions suspect/alive -> dead in this node's view. */
  deaths: number;
  /** Suspicions that ended alive: a member refuted before its suspicion expired. */
  falsePositiveRefutes: number;
  /** Dead or left members that came back alive with a higher incarnation. */
  rejoins: number;
  /** Messages dropped because the envelope's sender and the message's `from` disagree. */
  malformed: number;
  /** Updates dropped from a full dissemination queue. */
  broadcastsEvicted: number;
}

interface Suspicion {
  startMs: number;
  minMs: number;
  maxMs: number;
  k: number;
  /** Accusers seen, the first one included; bounded by the cluster size. */
  accusers: Set<NodeId>;
  /** The Lifeguard timeout for the confirmations seen so far, before our own health stretches it. */
  timeoutMs: number;
}

interface Member {
  readonly id: NodeId;
  state: MemberState;
  incarnation: number;
  lastHeardMs: number | null;
  stateSinceMs: number;
  suspicion: Suspicion | null;
}

interface Probe {
  readonly target: NodeId;
  readonly seq: number;
  readonly startMs: number;
  readonly directDeadlineMs: number;
  periodEndMs: number;
  indirectSent: boolean;
  via: NodeId[];
  acked: boolean;
  nacks: Set<NodeId>;
}

interface Relay {
  readonly requester: NodeId;
  readonly requesterSeq: number;
  readonly target: NodeId;
  readonly nackAtMs: number;
  readonly expiresAtMs: number;
  nackSent: boolean;
}

export function validateSwimConfig(c: SwimConfig): void {
  const positiveInts: (keyof SwimConfig)[] = [
    'probeIntervalMs',
    'probeTimeoutMs',
    'maxPiggyback',
    'retransmitMult',
    'maxAwareness',
    'maxBroadcastQueue',
    'maxRelays',
    'maxUpdatesPerMessage',
  ];
  for (const key of positiveInts) {
    const v = c[key];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`swim config: ${key} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(c.indirectProbes) || c.indirectProbes < 0) throw new RangeError('swim config: indirectProbes must be >= 0');
  if (!Number.isInteger(c.maxLeaveFanout) || c.maxLeaveFanout < 0) throw new RangeError('swim config: maxLeaveFanout must be >= 0');
  if (c.probeTimeoutMs >= c.probeIntervalMs) throw new RangeError('swim config: probeTimeoutMs must be shorter than probeIntervalMs');
  if (!(c.suspicionMultiplier >= 1)) throw new RangeError('swim config: suspicionMultiplier must be >= 1');
  if (!(c.suspicionMaxMultiplier >= 1)) throw new RangeError('swim config: suspicionMaxMultiplier must be >= 1');
}

export class Swim {
  private readonly config: SwimConfig;
  private readonly memberMap = new Map<NodeId, Member>();
  private readonly queue: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly relays = new Map<number, Relay>();
  private readonly stats: SwimCounters = {
    probesSent: 0,
    acksReceived: 0,
    indirectProbes: 0,
    pingReqsServed: 0,
    nacksSent: 0,
    nacksReceived: 0,
    probesFailed: 0,
    deadProbes: 0,
    suspicions: 0,
    refutations: 0,
    deaths: 0,
    falsePositiveRefutes: 0,
    rejoins: 0,
    malformed: 0,
    broadcastsEvicted: 0,
  };

  private selfIncarnation = 0;
  private hasLeft = false;
  private seq: number;
  private probe: Probe | null = null;
  private nextProbeAtMs: number;
  /** The current round of the round-robin (SWIM §4.3) and our place in it. */
  private round: NodeId[] = [];
  private roundIndex = 0;
  private deadCursor = 0;

  constructor(
    private readonly self: NodeId,
    members: readonly NodeId[],
    config: SwimConfig,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly random: Random,
  ) {
    validateSwimConfig(config);
    this.config = config;
    this.queue = new BroadcastQueue(config.maxBroadcastQueue);
    this.awareness = new Awareness(config.maxAwareness);
    const now = clock.now();
    for (const id of members) {
      if (id !== self && !this.memberMap.has(id)) this.memberMap.set(id, newMember(id, now));
    }
    // Random first seq so that a restarted node does not reuse the seqs of
    // its previous life, whose late acks may still be in flight.
    this.seq = random.int(SEQ_MODULUS);
    // Stagger the first probe so that nodes started together do not probe in lockstep.
    this.nextProbeAtMs = now + random.int(config.probeIntervalMs);
    // Announce ourselves: a restarted node tells the others it is back, and
    // learns from their answers whether it must raise its incarnation.
    this.queue.enqueue({ node: self, state: 'alive', incarnation: 0 });
  }

  // ---- queries ---------------------------------------------------------

  /** Every other member of the layout as this node sees it (self excluded), sorted by id. */
  members(): MemberView[] {
    return [...this.memberMap.values()]
      .map((m) => ({ id: m.id, state: m.state, incarnation: m.incarnation, lastHeardMs: m.lastHeardMs, stateSinceMs: m.stateSinceMs }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: NodeId): MemberView | undefined {
    const m = this.memberMap.get(id);
    return m && { id: m.id, state: m.state, incarnation: m.incarnation, lastHeardMs: m.lastHeardMs, stateSinceMs: m.stateSinceMs };
  }

  /**
   * Whether requests may be routed to `node`. A suspect still counts as
   * alive: suspicion exists precisely because a missed ack is weak evidence
   * (SWIM §4.2), and treating it as dead would push writes to fallback
   * nodes (hinted handoff) on every lost packet. Dead and left members, and
   * nodes outside the layout, are not alive.
   */
  isAlive(node: NodeId): boolean {
    if (node === this.self) return !this.hasLeft;
    const m = this.memberMap.get(node);
    return m !== undefined && (m.state === 'alive' || m.state === 'suspect');
  }

  incarnation(): number {
    return this.selfIncarnation;
  }

  /** The Lifeguard local health score: 0 is healthy, timeouts are stretched by score + 1. */
  healthScore(): number {
    return this.awareness.get();
  }

  counters(): SwimCounters {
    return { ...this.stats, broadcastsEvicted: this.queue.evicted() };
  }

  /** Pending dissemination updates (bounded by maxBroadcastQueue). */
  pendingBroadcasts(): number {
    return this.queue.size();
  }

  /**
   * The earliest clock time at which `tick` has work to do. A driver may
   * sleep until then instead of ticking at a fixed rate; anything received
   * in between may bring it forward.
   */
  nextDeadlineMs(): number {
    let t = Infinity;
    for (const r of this.relays.values()) {
      t = Math.min(t, r.expiresAtMs);
      if (!r.nackSent) t = Math.min(t, r.nackAtMs);
    }
    if (this.hasLeft) return t;
    for (const m of this.memberMap.values()) if (m.suspicion) t = Math.min(t, this.suspicionDeadlineMs(m.suspicion));
    const p = this.probe;
    if (p) {
      if (!p.acked && !p.indirectSent) t = Math.min(t, p.directDeadlineMs);
      t = Math.min(t, p.periodEndMs);
    } else {
      t = Math.min(t, this.nextProbeAtMs);
    }
    return t;
  }

  // ---- layout changes --------------------------------------------------

  /** A node joined the layout: it starts alive at incarnation 0 and is probed within the current round. */
  addMember(id: NodeId): void {
    if (id === this.self || this.memberMap.has(id)) return;
    this.memberMap.set(id, newMember(id, this.clock.now()));
    // Insert at a random place in the rest of the current round, as
    // memberlist does, so a new node is probed within one round without
    // every member probing it at the same moment.
    const at = this.roundIndex + this.random.int(this.round.length - this.roundIndex + 1);
    this.round.splice(at, 0, id);
  }

  /** A node left the layout: forget it entirely, including any probe in flight. */
  removeMember(id: NodeId): void {
    if (!this.memberMap.delete(id)) return;
    this.queue.remove(id);
    if (this.probe?.target === id) {
      this.nextProbeAtMs = this.probe.periodEndMs;
      this.probe = null;
    }
  }

  /**
   * Voluntary departure: raise the incarnation, mark ourselves left and
   * tell up to maxLeaveFanout members directly (they gossip it on). After
   * this the node still answers pings, so the news also reaches whoever
   * probes it, but it probes no one.
   */
  leave(): SwimEffect[] {
    const out: SwimEffect[] = [];
    if (this.hasLeft) return out;
    this.hasLeft = true;
    // Bounded like every incarnation (MAX_ACCUSED_INCARNATION): at the very
    // top, left at the same incarnation still overrides alive (SWIM §4.2 order).
    this.selfIncarnation = Math.min(this.selfIncarnation + 1, MAX_ACCUSED_INCARNATION);
    this.probe = null;
    this.queue.enqueue({ node: this.self, state: 'left', incarnation: this.selfIncarnation });
    out.push({ kind: 'stateChanged', node: this.self, from: 'alive', to: 'left' });
    const live = [...this.memberMap.values()].filter((m) => m.state === 'alive' || m.state === 'suspect').map((m) => m.id);
    for (const to of shuffle(live, this.random).slice(0, this.config.maxLeaveFanout)) {
      out.push(this.send(to, { type: 'swimPing', seq: this.nextSeq(), from: this.self }));
    }
    return out;
  }

  // ---- events ----------------------------------------------------------

  /** Time has passed: advance the probe, serve relays, expire suspicions. */
  tick(): SwimEffect[] {
    const out: SwimEffect[] = [];
    const now = this.clock.now();
    this.expireRelays(now, out);
    if (this.hasLeft) return out;
    this.expireSuspicions(now, out);
    this.advanceProbe(now, out);
    return out;
  }

  receive(from: NodeId, msg: SwimMessage): SwimEffect[] {
    const out: SwimEffect[] = [];
    if (msg.from !== from) {
      this.stats.malformed++;
      return out;
    }
    const now = this.clock.now();
    const sender = this.memberMap.get(from);
    if (sender) sender.lastHeardMs = now;
    this.applyUpdates(from, msg.updates, now, out);

    switch (msg.type) {
      case 'swimPing':
        out.push(this.send(from, { type: 'swimAck', seq: msg.seq, from: this.self }));
        break;
      case 'swimPingReq':
        this.serveIndirect(from, msg.seq, msg.target, now, out);
        break;
      case 'swimAck':
        this.onAck(from, msg.seq, now, out);
        break;
      case 'swimNack': {
        const p = this.probe;
        if (p && p.seq === msg.seq && p.via.includes(from) && !p.nacks.has(from)) {
          p.nacks.add(from);
          this.stats.nacksReceived++;
        }
        break;
      }
      default:
        this.stats.malformed++;
    }
    return out;
  }

  // ---- probing (SWIM §3.1, §4.3) ---------------------------------------

  private advanceProbe(now: number, out: SwimEffect[]): void {
    const p = this.probe;
    if (p) {
      if (!p.acked && !p.indirectSent && now >= p.directDeadlineMs) {
        this.sendIndirect(p, out);
        // A driver that stalled past the whole period (a GC pause, an
        // overloaded event loop) must not turn its own stall into an
        // accusation: give the indirect probes their share of the period.
        const indirectMs = (this.config.probeIntervalMs - this.config.probeTimeoutMs) * this.awareness.scale();
        if (now >= p.periodEndMs) p.periodEndMs = now + indirectMs;
      }
      if (now < p.periodEndMs) return;
      this.finishProbe(p, now, out);
      this.probe = null;
      this.nextProbeAtMs = p.periodEndMs;
    }
    if (now >= this.nextProbeAtMs) this.startProbe(now, out);
  }

  private startProbe(now: number, out: SwimEffect[]): void {
    const target = this.nextTarget(out);
    if (target === null) {
      this.nextProbeAtMs = now + this.config.probeIntervalMs;
      return;
    }
    const scale = this.awareness.scale();
    const p: Probe = {
      target,
      seq: this.nextSeq(),
      startMs: now,
      directDeadlineMs: now + this.config.probeTimeoutMs * scale,
      periodEndMs: now + this.config.probeIntervalMs * scale,
      indirectSent: false,
      via: [],
      acked: false,
      nacks: new Set(),
    };
    this.probe = p;
    this.stats.probesSent++;
    out.push(this.send(target, { type: 'swimPing', seq: p.seq, from: this.self }));
  }

  /**
   * Round-robin over a shuffled list, reshuffled every round (SWIM §4.3):
   * every live member is probed once per round, which bounds the time to
   * first detection by two rounds, unlike uniform random choice. Suspects
   * stay in the list; dead and left members do not.
   */
  private nextTarget(out: SwimEffect[]): NodeId | null {
    for (let pass = 0; pass < 2; pass++) {
      while (this.roundIndex < this.round.length) {
        const id = this.round[this.roundIndex++] as NodeId;
        const m = this.memberMap.get(id);
        if (m && (m.state === 'alive' || m.state === 'suspect')) return id;
      }
      // At most one new round per probe, so that a node that sees nobody
      // alive pings one dead member per period rather than spinning.
      if (pass === 0) this.newRound(out);
    }
    return null;
  }

  private newRound(out: SwimEffect[]): void {
    const ids = [...this.memberMap.values()].filter((m) => m.state === 'alive' || m.state === 'suspect').map((m) => m.id);
    ids.sort();
    this.round = shuffle(ids, this.random);
    this.roundIndex = 0;
    // Once per round, ping one dead member (round-robin over them). This is
    // how a healed partition or a restarted node is noticed: our ping
    // carries the news that it was declared dead (see send), it refutes
    // with a higher incarnation in its ack, and the alive update spreads.
    // A dead member's silence costs nothing: no indirect probes, no
    // suspicion, no change to our health score.
    const dead = [...this.memberMap.values()].filter((m) => m.state === 'dead').map((m) => m.id);
    if (dead.length > 0) {
      dead.sort();
      const to = dead[this.deadCursor++ % dead.length] as NodeId;
      this.stats.deadProbes++;
      out.push(this.send(to, { type: 'swimPing', seq: this.nextSeq(), from: this.self }));
    }
  }

  private sendIndirect(p: Probe, out: SwimEffect[]): void {
    p.indirectSent = true;
    const candidates = [...this.memberMap.values()].filter((m) => m.state === 'alive' && m.id !== p.target).map((m) => m.id);
    candidates.sort();
    p.via = shuffle(candidates, this.random).slice(0, this.config.indirectProbes);
    for (const via of p.via) {
      this.stats.indirectProbes++;
      out.push(this.send(via, { type: 'swimPingReq', seq: p.seq, from: this.self, target: p.target }));
    }
  }

  private finishProbe(p: Probe, now: number, out: SwimEffect[]): void {
    if (p.acked) return;
    this.stats.probesFailed++;
    // Lifeguard §IV-A: intermediaries that answered with a nack are
    // reachable, so the target is the likely culprit; each missing nack
    // hints that we are the one losing packets. With nobody to ask, any
    // failed probe counts against us.
    this.awareness.apply(p.via.length > 0 ? p.via.length - p.nacks.size : 1);
    const m = this.memberMap.get(p.target);
    if (!m) return;
    this.suspect(m, m.incarnation, this.self, now, out);
  }

  private onAck(from: NodeId, seq: number, now: number, out: SwimEffect[]): void {
    const p = this.probe;
    if (p && p.seq === seq && (from === p.target || p.via.includes(from))) {
      if (p.acked) return;
      p.acked = true;
      this.stats.acksReceived++;
      const target = this.memberMap.get(p.target);
      if (target && from !== p.target) target.lastHeardMs = now;
      // Only a prompt direct ack is evidence of our own good health.
      if (from === p.target && !p.indirectSent) this.awareness.apply(-1);
      return;
    }
    const relay = this.relays.get(seq);
    if (relay && relay.target === from) {
      this.relays.delete(seq);
      out.push(this.send(relay.requester, { type: 'swimAck', seq: relay.requesterSeq, from: this.self }));
    }
    // Anything else is a late ack of a finished probe or an ack of a dead
    // probe or leave ping: its updates were already applied.
  }

  /** SWIM §3.1: probe `target` for `requester` and forward the ack; Lifeguard: nack on silence. */
  private serveIndirect(requester: NodeId, requesterSeq: number, target: NodeId, now: number, out: SwimEffect[]): void {
    if (target === this.self) {
      out.push(this.send(requester, { type: 'swimAck', seq: requesterSeq, from: this.self }));
      return;
    }
    if (this.relays.size >= this.config.maxRelays) {
      const oldest = this.relays.keys().next();
      if (!oldest.done) this.relays.delete(oldest.value);
    }
    const seq = this.nextSeq();
    this.relays.set(seq, {
      requester,
      requesterSeq,
      target,
      nackAtMs: now + Math.floor(this.config.probeTimeoutMs * NACK_FRACTION),
      // Long enough for the requester's stretched period; the map bound caps the cost.
      expiresAtMs: now + this.config.probeIntervalMs * 2,
      nackSent: false,
    });
    this.stats.pingReqsServed++;
    out.push(this.send(target, { type: 'swimPing', seq, from: this.self }));
  }

  private expireRelays(now: number, out: SwimEffect[]): void {
    for (const [seq, r] of this.relays) {
      if (!r.nackSent && now >= r.nackAtMs) {
        r.nackSent = true;
        this.stats.nacksSent++;
        out.push(this.send(r.requester, { type: 'swimNack', seq: r.requesterSeq, from: this.self }));
      }
      if (now >= r.expiresAtMs) this.relays.delete(seq);
    }
  }

  // ---- suspicion (SWIM §4.2, Lifeguard §IV-B) --------------------------

  private clusterSize(): number {
    let n = 1;
    for (const m of this.memberMap.values()) if (m.state !== 'left') n++;
    return n;
  }

  private suspect(m: Member, incarnation: number, accuser: NodeId, now: number, out: SwimEffect[]): void {
    if (m.state === 'suspect' && incarnation === m.incarnation && m.suspicion) {
      // Another accusation of the same incarnation: a confirmation if the
      // accuser is new. Passing it on lets the others count it as well.
      const s = m.suspicion;
      if (s.accusers.has(accuser)) return;
      if (s.accusers.size > s.k) return; // already at the floor; nothing more to learn
      s.accusers.add(accuser);
      s.timeoutMs = suspicionTimeoutMs(s.minMs, s.maxMs, s.accusers.size - 1, s.k);
      this.queue.enqueue({ node: m.id, state: 'suspect', incarnation, from: accuser });
      return;
    }
    if (m.state === 'dead' || m.state === 'left') return;
    if (m.state === 'alive' && incarnation < m.incarnation) return;
    if (m.state === 'suspect' && incarnation <= m.incarnation) return;
    assert(incarnation >= m.incarnation, `swim: suspecting ${m.id} at incarnation ${incarnation}, below its ${m.incarnation}`);
    const n = this.clusterSize();
    const minMs = suspicionTimeoutMinMs(this.config.suspicionMultiplier, n, this.config.probeIntervalMs);
    const maxMs = minMs * this.config.suspicionMaxMultiplier;
    const k = expectedConfirmations(this.config.suspicionMultiplier, n);
    m.incarnation = incarnation;
    m.suspicion = { startMs: now, minMs, maxMs, k, accusers: new Set([accuser]), timeoutMs: suspicionTimeoutMs(minMs, maxMs, 0, k) };
    this.stats.suspicions++;
    this.setState(m, 'suspect', now, out);
    assert(m.state === 'suspect' && m.incarnation === incarnation && m.suspicion !== null, `swim: ${m.id} not suspect at ${incarnation} after an accusation`);
    this.queue.enqueue({ node: m.id, state: 'suspect', incarnation, from: accuser });
  }

  private expireSuspicions(now: number, out: SwimEffect[]): void {
    for (const m of this.memberMap.values()) {
      if (m.state !== 'suspect') continue;
      assert(m.suspicion !== null, `swim: suspect ${m.id} without a suspicion timer`);
      if (now < this.suspicionDeadlineMs(m.suspicion)) continue;
      this.declareDead(m, m.incarnation, now, out);
    }
  }

  /**
   * When a suspicion expires. Our own health score stretches it: a node
   * that is itself losing packets is the likeliest to have missed the
   * refutation, so it gives the accused longer (a departure from Lifeguard,
   * which stretches only probe timeouts; see the README).
   */
  private suspicionDeadlineMs(s: Suspicion): number {
    return s.startMs + s.timeoutMs * this.awareness.scale();
  }

  private declareDead(m: Member, incarnation: number, now: number, out: SwimEffect[]): void {
    assert(incarnation >= m.incarnation, `swim: declaring ${m.id} dead at incarnation ${incarnation}, below its ${m.incarnation}`);
    assert(m.state === 'alive' || m.state === 'suspect', `swim: declaring ${m.id} dead from ${m.state}`);
    m.incarnation = incarnation;
    m.suspicion = null;
    this.stats.deaths++;
    this.setState(m, 'dead', now, out);
    assert((m.state as MemberState) === 'dead' && m.suspicion === null, `swim: ${m.id} not dead after being declared dead`);
    this.queue.enqueue({ node: m.id, state: 'dead', incarnation });
  }

  // ---- dissemination (SWIM §4.1, §4.2) ---------------------------------

  private applyUpdates(sender: NodeId, updates: readonly MemberUpdate[], now: number, out: SwimEffect[]): void {
    const limit = Math.min(updates.length, this.config.maxUpdatesPerMessage);
    for (let i = 0; i < limit; i++) {
      const u = updates[i] as MemberUpdate;
      if (!incarnationInRange(u)) {
        this.stats.malformed++;
        continue;
      }
      if (u.node === this.self) {
        this.applyAboutSelf(u, sender, out);
        continue;
      }
      const m = this.memberMap.get(u.node);
      if (!m) continue; // not in our layout: Raft decides who exists, gossip does not
      this.applyAboutMember(m, u, sender, now, out);
    }
  }

  /**
   * The ordering of SWIM §4.2, with `left` ranked like `dead`:
   *  - alive(j) overrides suspect(i), dead(i), left(i) and alive(i) iff j > i;
   *  - suspect(j) overrides alive(i) iff j >= i, and suspect(i) iff j > i;
   *  - dead(j) overrides alive(i) and suspect(i) iff j >= i;
   *  - left(j) overrides alive, suspect and dead(i) iff j >= i.
   * Every update that changed our view is passed on.
   */
  private applyAboutMember(m: Member, u: MemberUpdate, sender: NodeId, now: number, out: SwimEffect[]): void {
    switch (u.state) {
      case 'alive': {
        if (u.incarnation <= m.incarnation) return;
        assert(u.incarnation > m.incarnation, 'swim: alive must carry a higher incarnation');
        const prev = m.state;
        m.incarnation = u.incarnation;
        m.suspicion = null;
        if (prev === 'suspect') this.stats.falsePositiveRefutes++;
        if (prev === 'dead' || prev === 'left') this.stats.rejoins++;
        this.setState(m, 'alive', now, out);
        assert(m.state === 'alive' && m.suspicion === null && m.incarnation === u.incarnation, `swim: ${m.id} not alive at ${u.incarnation} after a refutation`);
        this.queue.enqueue({ node: m.id, state: 'alive', incarnation: u.incarnation });
        return;
      }
      case 'suspect':
        this.suspect(m, u.incarnation, u.from ?? sender, now, out);
        return;
      case 'dead':
        if (m.state === 'dead' || m.state === 'left') {
          if (u.incarnation > m.incarnation) m.incarnation = u.incarnation;
          return;
        }
        if (u.incarnation < m.incarnation) return;
        this.declareDead(m, u.incarnation, now, out);
        return;
      case 'left':
        if (u.incarnation < m.incarnation) return;
        if (m.state === 'left') {
          m.incarnation = u.incarnation;
          return;
        }
        assert(u.incarnation >= m.incarnation, `swim: ${m.id} left at incarnation ${u.incarnation}, below its ${m.incarnation}`);
        m.incarnation = u.incarnation;
        m.suspicion = null;
        this.setState(m, 'left', now, out);
        this.queue.enqueue({ node: m.id, state: 'left', incarnation: u.incarnation });
        return;
      default:
        this.stats.malformed++;
    }
  }

  /**
   * News about ourselves. An accusation (suspect, dead, or even left) at
   * our incarnation or above is refuted by moving above it (SWIM §4.2); this
   * is also how a restarted node, back at incarnation 0, climbs over the
   * incarnation it was declared dead at. A stale accusation means someone
   * missed our last refutation: make sure it is being gossiped again.
   */
  private applyAboutSelf(u: MemberUpdate, sender: NodeId, out: SwimEffect[]): void {
    if (this.hasLeft) {
      if (u.state !== 'left' && !this.queue.has(this.self)) {
        this.queue.enqueue({ node: this.self, state: 'left', incarnation: this.selfIncarnation });
      }
      return;
    }
    const accusation = u.state !== 'alive';
    if ((accusation && u.incarnation >= this.selfIncarnation) || (!accusation && u.incarnation > this.selfIncarnation)) {
      // An accusation is at most MAX_ACCUSED_INCARNATION (applyUpdates), so
      // +1 stays safe; an alive at the very top is matched, not passed.
      this.selfIncarnation = Math.min(u.incarnation + 1, MAX_INCARNATION);
      assert((this.selfIncarnation > u.incarnation || !accusation) && Number.isSafeInteger(this.selfIncarnation), `swim: refutation of ${u.state}@${u.incarnation} left us at ${this.selfIncarnation}`);
      this.stats.refutations++;
      // Lifeguard §IV-A: being suspected hints that we are slow to answer.
      if (accusation) this.awareness.apply(1);
      this.queue.enqueue({ node: this.self, state: 'alive', incarnation: this.selfIncarnation });
      // The accuser's timer is the first to run out: tell it directly
      // rather than wait for gossip to get there (not in the paper). The
      // sender of this message will hear it in our answer, if any.
      const accuser = u.state === 'suspect' ? u.from : undefined;
      if (accuser !== undefined && accuser !== sender && accuser !== this.self && this.memberMap.has(accuser)) {
        out.push(this.send(accuser, { type: 'swimPing', seq: this.nextSeq(), from: this.self }));
      }
      return;
    }
    if (accusation && !this.queue.has(this.self)) {
      this.queue.enqueue({ node: this.self, state: 'alive', incarnation: this.selfIncarnation });
    }
  }

  /**
   * Builds an outgoing message with its piggybacked updates. Whatever we
   * hold against the recipient goes first (Lifeguard's "buddy system"):
   * from the queue if it is still there, else from our view when the
   * recipient is suspect, dead or left, so that an accused node always
   * hears the accusation from whoever talks to it and can refute it.
   */
  private send(to: NodeId, body: DistributiveOmit<SwimMessage, 'updates'>): SwimEffect {
    const limit = retransmitLimit(this.config.retransmitMult, this.clusterSize());
    const m = this.memberMap.get(to);
    let updates: MemberUpdate[];
    if (m && m.state !== 'alive' && !this.queue.has(to)) {
      const about: MemberUpdate =
        m.state === 'suspect'
          ? { node: to, state: 'suspect', incarnation: m.incarnation, from: firstAccuser(m) ?? this.self }
          : { node: to, state: m.state, incarnation: m.incarnation };
      updates = [about, ...this.queue.take(this.config.maxPiggyback - 1, limit, null)];
    } else {
      updates = this.queue.take(this.config.maxPiggyback, limit, to);
    }
    return { kind: 'send', to, msg: { ...body, updates } as SwimMessage };
  }

  private setState(m: Member, to: MemberState, now: number, out: SwimEffect[]): void {
    assert(m.id !== this.self, 'swim: a transition of this node itself in its own member list');
    if (m.state === to) return;
    const from = m.state;
    m.state = to;
    m.stateSinceMs = now;
    if (to !== 'suspect') m.suspicion = null;
    // A suspect, and only a suspect, runs a suspicion timer (expireSuspicions).
    assert((m.state === 'suspect') === (m.suspicion !== null), `swim: ${m.id} is ${m.state} with${m.suspicion === null ? 'out' : ''} a suspicion timer`);
    out.push({ kind: 'stateChanged', node: m.id, from, to });
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % SEQ_MODULUS;
    return this.seq;
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

function newMember(id: NodeId, now: number): Member {
  return { id, state: 'alive', incarnation: 0, lastHeardMs: null, stateSinceMs: now, suspicion: null };
}

function firstAccuser(m: Member): NodeId | undefined {
  const s = m.suspicion;
  if (!s) return undefined;
  for (const a of s.accusers) return a;
  return undefined;
}

/**
 * The largest incarnation an alive update may carry. Incarnations travel as
 * uint64 and are read as JS numbers: past 2^53 `+1` no longer changes the
 * number, so a forged accusation up there could never be refuted (SWIM §4.2
 * needs a strictly higher alive) and would evict its target for good.
 */
export const MAX_INCARNATION = Number.MAX_SAFE_INTEGER;
/**
 * The largest incarnation a suspect, dead or left update may carry: one
 * below MAX_INCARNATION, so that every accusation a node accepts stays
 * refutable by `+1` within the safe range.
 */
export const MAX_ACCUSED_INCARNATION = MAX_INCARNATION - 1;

/** False for an incarnation that is not an integer, negative, or past its state's bound (the update is dropped as malformed). */
export function incarnationInRange(u: { readonly state: string; readonly incarnation: number }): boolean {
  if (!Number.isSafeInteger(u.incarnation) || u.incarnation < 0) return false;
  return u.incarnation <= (u.state === 'alive' ? MAX_INCARNATION : MAX_ACCUSED_INCARNATION);
}
