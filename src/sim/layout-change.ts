// The control plane's layout history as the data-path simulator sees it
// (docs/layout.md, docs/sim.md "Layout changes"): one committed history,
// and per node a view of it that lags behind by a random delay, as a node's
// Raft state machine applies committed entries some time after the leader
// committed them. This is a deterministic model of Raft's commit, not Raft:
// every proposal commits (the Raft part of each seed checks Raft itself);
// what it keeps is what the layout rules depend on: each node acts on its
// own view, views only move forward, and a node's report resolves once its
// own view holds it (as RaftDriver.propose resolves once applied locally).
//
// Changes are made as an operator makes them: stage, plan (proposeNext),
// apply the next version. Progress reports go through history.report, the
// function the control state machine applies for a layoutProgress command.

import { HistoryPlacement } from '../layout/placement.js';
import { applyVersion, proposeNext, report, stage, type LayoutHistory, type NodeProgress } from '../layout/history.js';
import type { Member } from '../layout/types.js';
import type { Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { Scheduler } from './scheduler.js';

interface View {
  /** The commit this view shows (0: the founding history). */
  seq: number;
  history: LayoutHistory;
  placement: HistoryPlacement;
}

export class SimLayout {
  #committed: LayoutHistory;
  #placement: HistoryPlacement;
  #seq = 0;
  readonly #views = new Map<NodeId, View>();
  readonly #waiters = new Map<NodeId, { seq: number; resolve: () => void }[]>();

  constructor(
    private readonly sched: Scheduler,
    /** Draws the view lags; a stream of its own. */
    private readonly random: Random,
    founding: LayoutHistory,
    private readonly lagMaxMs: number,
    /** A node's view changed (the world pokes its mover and updates its member list). */
    private readonly onView: (node: NodeId) => void,
    /** Every placement a node's view holds, from when (for the checkers). */
    private readonly record: (node: NodeId, placement: HistoryPlacement) => void,
  ) {
    this.#committed = founding;
    this.#placement = new HistoryPlacement(founding);
  }

  /** The committed history (what a majority holds). */
  get history(): LayoutHistory {
    return this.#committed;
  }

  /** The placement of the committed history. */
  get placement(): HistoryPlacement {
    return this.#placement;
  }

  /** A node's view; a node seen for the first time starts with the committed history (it read the Raft log at start). */
  view(node: NodeId): View {
    let v = this.#views.get(node);
    if (v === undefined) {
      this.#views.set(node, (v = { seq: this.#seq, history: this.#committed, placement: this.#placement }));
      this.record(node, v.placement);
    }
    return v;
  }

  /** Stages the additions and removals, plans the next version and applies it, as `ringstore layout apply` does. */
  apply(add: readonly Member[], remove: readonly NodeId[]): number {
    let h = this.#committed;
    for (const m of add) h = ok(stage(h, { op: 'assign', member: m }), `stage ${m.id}`);
    for (const id of remove) h = ok(stage(h, { op: 'remove', id }), `remove ${id}`);
    const next = proposeNext(h);
    h = ok(applyVersion(h, next.version, h.stagingSeq, next.result.assignment), `apply version ${next.version}`);
    this.#commit(h, `LAYOUT apply version ${next.version}${add.map((m) => ` +${m.id}`).join('')}${remove.map((id) => ` -${id}`).join('')}`);
    return next.version;
  }

  /** A layoutProgress command from `node`: committed at once, resolved once the node's own view has it. */
  report(node: NodeId, progress: Partial<NodeProgress>): Promise<void> {
    const r = report(this.#committed, node, progress);
    if (!r.ok) return Promise.reject(new Error(`layoutProgress refused: ${r.refusal.code}: ${r.refusal.message}`));
    const seq = this.#commit(r.history, `LAYOUT ${node} reports ${Object.entries(progress).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return new Promise<void>((resolve) => {
      let list = this.#waiters.get(node);
      if (list === undefined) this.#waiters.set(node, (list = []));
      list.push({ seq, resolve });
    });
  }

  #commit(h: LayoutHistory, note: string): number {
    const seq = ++this.#seq;
    this.#committed = h;
    this.#placement = new HistoryPlacement(h);
    const placement = this.#placement;
    const versions = h.versions.map((v) => v.version).join(',');
    this.sched.note(`${note} (live versions ${versions})`);
    for (const node of [...this.#views.keys()]) {
      const lag = this.lagMaxMs > 0 ? this.random.int(this.lagMaxMs + 1) : 0;
      this.sched.schedule(lag, '', () => {
        const v = this.view(node);
        // Views only move forward: a later commit may have arrived first.
        if (v.seq >= seq) return;
        v.seq = seq;
        v.history = h;
        v.placement = placement;
        this.record(node, placement);
        const waiting = this.#waiters.get(node) ?? [];
        const due = waiting.filter((w) => w.seq <= seq);
        this.#waiters.set(node, waiting.filter((w) => w.seq > seq));
        for (const w of due) w.resolve();
        this.onView(node);
      });
    }
    return seq;
  }
}

function ok(r: { ok: true; history: LayoutHistory } | { ok: false; refusal: { message: string } }, what: string): LayoutHistory {
  if (!r.ok) throw new Error(`sim layout: ${what}: ${r.refusal.message}`);
  return r.history;
}
