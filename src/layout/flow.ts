// A min-cost flow on small integer graphs (successive shortest paths, with a
// queue-based Bellman-Ford for the paths since costs may be negative). The
// assignment (assign.ts) is one such flow; keeping it here keeps that file
// about partitions and zones. Pure and deterministic: integer costs and
// capacities, edges visited in a fixed order (the reverse of insertion).

export class FlowGraph {
  private readonly head: Int32Array;
  private to: Int32Array;
  private cap: Int32Array;
  private cost: Float64Array;
  private next: Int32Array;
  private edges = 0;

  constructor(readonly vertices: number, edgeHint: number) {
    this.head = new Int32Array(vertices).fill(-1);
    const room = Math.max(16, 2 * edgeHint);
    this.to = new Int32Array(room);
    this.cap = new Int32Array(room);
    this.cost = new Float64Array(room);
    this.next = new Int32Array(room);
  }

  /** Adds u -> v with a capacity and a cost per unit (and its residual twin); returns the edge's id. */
  addEdge(u: number, v: number, capacity: number, cost: number): number {
    if (this.edges + 2 > this.to.length) this.grow();
    const e = this.edges;
    this.link(e, u, v, capacity, cost);
    this.link(e + 1, v, u, 0, -cost);
    this.edges += 2;
    return e;
  }

  /** Units flowing on edge e. */
  flow(e: number): number {
    return this.cap[e ^ 1]!;
  }

  residual(e: number): number {
    return this.cap[e]!;
  }

  /** Pushes one unit along edges (each must have residual capacity). */
  push(path: readonly number[]): void {
    for (const e of path) {
      this.cap[e]!--;
      this.cap[e ^ 1]!++;
    }
  }

  /**
   * Augments from s to t along cheapest residual paths until `limit` units
   * flow or no path is left; returns the units pushed. If the flow is
   * min-cost for its value before the call (true of the empty flow, and kept
   * by each cheapest augmentation), it is after.
   *
   * Primal-dual: one Bellman-Ford (queue-based) for the first potentials,
   * then per phase a Dijkstra on reduced costs and as many augmentations as
   * the zero-reduced-cost arcs allow (every such path is a cheapest one), so
   * the many moves of one layout change that cost the same share a phase.
   */
  augment(s: number, t: number, limit: number): number {
    const V = this.vertices;
    const pot = this.bellmanFord(s);
    const dist = new Float64Array(V);
    const done = new Uint8Array(V);
    const heap = new MinHeap(V);
    let pushed = 0;
    while (pushed < limit) {
      dist.fill(Infinity);
      done.fill(0);
      dist[s] = 0;
      heap.push(0, s);
      while (heap.size > 0) {
        const [du, u] = heap.pop();
        if (done[u] === 1 || du > dist[u]!) continue;
        done[u] = 1;
        for (let e = this.head[u]!; e !== -1; e = this.next[e]!) {
          if (this.cap[e]! <= 0) continue;
          const v = this.to[e]!;
          if (pot[v] === Infinity) continue;
          const dv = du + this.cost[e]! + pot[u]! - pot[v]!;
          if (dv < dist[v]!) {
            dist[v] = dv;
            heap.push(dv, v);
          }
        }
      }
      if (dist[t] === Infinity) break;
      const cut = dist[t]!;
      for (let v = 0; v < V; v++) if (pot[v] !== Infinity) pot[v]! += Math.min(dist[v]!, cut);
      const phase = this.blockingFlow(s, t, limit - pushed, pot);
      if (phase === 0) break;
      pushed += phase;
    }
    return pushed;
  }

  /** Shortest distances from s over residual arcs (Infinity where unreachable); the flow must have no negative cycle. */
  private bellmanFord(s: number): Float64Array {
    const V = this.vertices;
    const dist = new Float64Array(V).fill(Infinity);
    const inQueue = new Uint8Array(V);
    const queue = new Int32Array(V + 1);
    dist[s] = 0;
    let qh = 0;
    let qt = 0;
    queue[qt++] = s;
    inQueue[s] = 1;
    while (qh !== qt) {
      const u = queue[qh]!;
      qh = qh === V ? 0 : qh + 1;
      inQueue[u] = 0;
      for (let e = this.head[u]!; e !== -1; e = this.next[e]!) {
        if (this.cap[e]! <= 0) continue;
        const v = this.to[e]!;
        const dv = dist[u]! + this.cost[e]!;
        if (dv < dist[v]!) {
          dist[v] = dv;
          if (inQueue[v] === 0) {
            inQueue[v] = 1;
            queue[qt] = v;
            qt = qt === V ? 0 : qt + 1;
          }
        }
      }
    }
    return dist;
  }

  /** Unit augmentations along arcs of zero reduced cost (depth-first, iterative; a vertex that leads nowhere is skipped for the rest of the phase). */
  private blockingFlow(s: number, t: number, limit: number, pot: Float64Array): number {
    const V = this.vertices;
    const dead = new Uint8Array(V);
    const onPath = new Uint8Array(V);
    const arc = new Int32Array(V);
    const path: number[] = [];
    let pushed = 0;
    while (pushed < limit) {
      for (let v = 0; v < V; v++) arc[v] = this.head[v]!;
      path.length = 0;
      onPath.fill(0);
      let u = s;
      onPath[s] = 1;
      while (u !== t) {
        let e = arc[u]!;
        for (; e !== -1; e = this.next[e]!) {
          const v = this.to[e]!;
          if (this.cap[e]! > 0 && dead[v] === 0 && onPath[v] === 0 && pot[v] !== Infinity && this.cost[e]! + pot[u]! - pot[v]! === 0) break;
        }
        arc[u] = e;
        if (e !== -1) {
          path.push(e);
          u = this.to[e]!;
          onPath[u] = 1;
          continue;
        }
        dead[u] = 1;
        onPath[u] = 0;
        if (u === s) return pushed;
        const back = path.pop()!;
        u = this.to[back ^ 1]!;
        arc[u] = this.next[arc[u]!]!;
      }
      for (const e of path) {
        this.cap[e]!--;
        this.cap[e ^ 1]!++;
      }
      pushed++;
    }
    return pushed;
  }

  private link(e: number, u: number, v: number, capacity: number, cost: number): void {
    this.to[e] = v;
    this.cap[e] = capacity;
    this.cost[e] = cost;
    this.next[e] = this.head[u]!;
    this.head[u] = e;
  }

  private grow(): void {
    const room = this.to.length * 2;
    const to = new Int32Array(room);
    const cap = new Int32Array(room);
    const cost = new Float64Array(room);
    const next = new Int32Array(room);
    to.set(this.to);
    cap.set(this.cap);
    cost.set(this.cost);
    next.set(this.next);
    this.to = to;
    this.cap = cap;
    this.cost = cost;
    this.next = next;
  }
}

/** A binary min-heap of (key, vertex) with duplicates allowed (stale entries are skipped by the caller). */
class MinHeap {
  private keys: Float64Array;
  private vals: Int32Array;
  size = 0;

  constructor(room: number) {
    this.keys = new Float64Array(Math.max(16, room));
    this.vals = new Int32Array(Math.max(16, room));
  }

  push(key: number, val: number): void {
    if (this.size === this.keys.length) {
      const keys = new Float64Array(this.size * 2);
      const vals = new Int32Array(this.size * 2);
      keys.set(this.keys);
      vals.set(this.vals);
      this.keys = keys;
      this.vals = vals;
    }
    let k = this.size++;
    while (k > 0) {
      const parent = (k - 1) >> 1;
      if (this.keys[parent]! < key || (this.keys[parent] === key && this.vals[parent]! <= val)) break;
      this.keys[k] = this.keys[parent]!;
      this.vals[k] = this.vals[parent]!;
      k = parent;
    }
    this.keys[k] = key;
    this.vals[k] = val;
  }

  pop(): [number, number] {
    const top: [number, number] = [this.keys[0]!, this.vals[0]!];
    const key = this.keys[--this.size]!;
    const val = this.vals[this.size]!;
    let k = 0;
    for (;;) {
      let c = 2 * k + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && (this.keys[c + 1]! < this.keys[c]! || (this.keys[c + 1] === this.keys[c] && this.vals[c + 1]! < this.vals[c]!))) c++;
      if (key < this.keys[c]! || (key === this.keys[c] && val <= this.vals[c]!)) break;
      this.keys[k] = this.keys[c]!;
      this.vals[k] = this.vals[c]!;
      k = c;
    }
    this.keys[k] = key;
    this.vals[k] = val;
    return top;
  }
}
