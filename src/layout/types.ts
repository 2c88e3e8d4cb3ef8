// The vocabulary of layout changes (docs/layout.md): members with a zone and
// a capacity, and an assignment (every partition's ordered replica list)
// that is stored, not recomputed, so that a change moves only what it must.

/** storage holds data; a gateway only coordinates requests and holds nothing. */
export type MemberRole = 'storage' | 'gateway';

export interface Member {
  readonly id: string;
  /** Failure domain (rack, machine, availability zone): replicas of a partition prefer distinct zones. */
  readonly zone: string;
  /** Bytes the node offers; shares are proportional to it. 0 on a storage node drains it. */
  readonly capacity: number;
  readonly role: MemberRole;
  /** Where peers and clients reach the node (carried along, never interpreted here). */
  readonly addresses?: { readonly rpc: string; readonly http?: string };
}

/**
 * Which nodes hold which partition. `nodes` is sorted by id; owners is flat:
 * partition p's replicas are owners[p * replicas .. + replicas), indices into
 * `nodes`, preferred (coordinating) replica first. Every partition has exactly
 * `replicas` distinct owners (fewer only when there are fewer storage nodes).
 */
export interface Assignment {
  readonly partitions: number;
  readonly replicas: number;
  readonly nodes: readonly string[];
  readonly owners: readonly number[];
  /** kvs: a replica-group assignment (layout/groups.ts): a short last group leaves its partitions' last slots empty. */
  readonly groups?: true; // kvs
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The storage members that can hold data (role storage, capacity > 0), sorted by id. */
export function holders(members: readonly Member[]): Member[] {
  return members.filter((m) => m.role === 'storage' && m.capacity > 0).sort((a, b) => compareIds(a.id, b.id));
}

/** Partition p's owners, as node ids, preferred first. */
export function ownersOf(a: Assignment, p: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < a.replicas; r++) {
    const i = a.owners[p * a.replicas + r]!;
    if (i >= 0) out.push(a.nodes[i]!);
  }
  return out;
}

/** How many replicas each node holds (node id -> count), every node of the assignment listed. */
export function replicaCounts(a: Assignment): Map<string, number> {
  const counts = new Map<string, number>(a.nodes.map((n) => [n, 0]));
  for (const i of a.owners) if (i >= 0) counts.set(a.nodes[i]!, counts.get(a.nodes[i]!)! + 1);
  return counts;
}

/** The set of (partition, node) pairs, as "p node" strings: movement is counted over them. */
export function pairSet(a: Assignment): Set<string> {
  const s = new Set<string>();
  for (let p = 0; p < a.partitions; p++) for (const n of ownersOf(a, p)) s.add(`${p} ${n}`);
  return s;
}

/** Why an assignment is malformed, or undefined: the control state machine refuses what fails this. */
export function assignmentProblem(a: unknown): string | undefined {
  if (typeof a !== 'object' || a === null) return 'assignment must be an object';
  const o = a as Record<string, unknown>;
  const P = o.partitions;
  const R = o.replicas;
  if (typeof P !== 'number' || !Number.isInteger(P) || P < 1 || P > 65536 || (P & (P - 1)) !== 0) return 'partitions must be a power of two in [1, 65536]';
  if (typeof R !== 'number' || !Number.isInteger(R) || R < 1 || R > 16) return 'replicas must be an integer in [1, 16]';
  if (!Array.isArray(o.nodes) || o.nodes.some((n) => typeof n !== 'string' || n === '')) return 'nodes must be non-empty strings';
  const nodes = o.nodes as string[];
  for (let i = 1; i < nodes.length; i++) if (compareIds(nodes[i - 1]!, nodes[i]!) >= 0) return 'nodes must be sorted and distinct';
  if (!Array.isArray(o.owners) || o.owners.length !== P * R) return `owners must list ${P * R} entries`;
  const owners = o.owners as unknown[];
  const want = o.groups === true ? 1 : Math.min(R, nodes.length); // kvs: groups need one owner, not min(R, nodes)
  if (o.groups !== undefined && o.groups !== true) return 'groups must be true when given'; // kvs
  for (let p = 0; p < P; p++) {
    const seen = new Set<number>();
    for (let r = 0; r < R; r++) {
      const i = owners[p * R + r];
      if (typeof i !== 'number' || !Number.isInteger(i) || i < -1 || i >= nodes.length) return `partition ${p}: owner index out of range`;
      if (i === -1) {
        if (r < want) return `partition ${p}: ${want} owners required`;
        continue;
      }
      if (seen.has(i)) return `partition ${p}: owner listed twice`;
      seen.add(i);
    }
  }
  return undefined;
}
