// `ringstore status`: the cluster at a glance (docs/raft.md, "Seeing it").
// It asks one node for the layout (GET /cluster/control) and then every
// member of the layout for its Raft view (GET /cluster/raft) and health
// (GET /health): members, zones, voter or learner, who leads in which term,
// how far each has applied, the layout version, and whether the control
// plane has a quorum. `--json` prints the same facts for scripts.

import { adminToken } from './admin-client.js';

export interface StatusFlags {
  readonly node: string;
  readonly json?: boolean;
  /** Per-request deadline in ms. */
  readonly timeoutMs?: number;
}

interface RaftJson {
  role: string;
  term: number;
  leader: string | null;
  commit: number;
  applied: number;
  voters: string[];
  learners: string[];
  failed: string | null;
}

interface ControlJson {
  applied: number;
  layout: { version: number; nodes: { id: string; zone: string; role: string; addresses: { rpc: string; http?: string } }[] };
  buckets: unknown[];
  users: unknown[];
}

export interface MemberStatusLine {
  readonly id: string;
  readonly zone: string;
  readonly http: string | null;
  readonly reachable: boolean;
  readonly raft_role: string | null;
  readonly member: 'voter' | 'learner' | 'none';
  readonly term: number | null;
  readonly leader: string | null;
  readonly applied: number | null;
  readonly error: string | null;
}

export interface ClusterStatus {
  readonly asked: string;
  readonly leader: string | null;
  readonly term: number | null;
  readonly layout_version: number;
  /** The version reads use, and how many versions are live (more than 1 while data moves). */
  readonly layout_read_version: number | null;
  readonly layout_live_versions: number | null;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly voters_reachable: number;
  readonly quorum: boolean;
  readonly healthy: boolean;
  readonly buckets: number;
  readonly users: number;
  readonly members: readonly MemberStatusLine[];
}

async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  // userauth: /cluster/* is an admin route; the token comes from RINGSTORE_ADMIN_TOKEN or the dev cluster file.
  const token = adminToken(undefined);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  const body = (await res.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (!res.ok) throw new Error(`${res.status} ${body.error?.message ?? ''}`.trim());
  return body;
}

function baseUrl(addr: string): string {
  return addr.includes('://') ? addr.replace(/\/+$/, '') : `http://${addr}`;
}

export async function clusterStatus(flags: StatusFlags): Promise<ClusterStatus> {
  const timeoutMs = flags.timeoutMs ?? 5000;
  const asked = baseUrl(flags.node);
  const [control, askedRaft, layout] = await Promise.all([
    getJson<ControlJson>(`${asked}/cluster/control`, timeoutMs),
    getJson<RaftJson>(`${asked}/cluster/raft`, timeoutMs),
    // issue 10: the data layout (the history), not the member records' counter.
    getJson<{ currentVersion: number; readVersion: number; live: unknown[] }>(`${asked}/cluster/layout`, timeoutMs).catch(() => undefined),
  ]);
  const members: MemberStatusLine[] = await Promise.all(
    control.layout.nodes.map(async (n): Promise<MemberStatusLine> => {
      const http = n.addresses.http === undefined ? null : baseUrl(n.addresses.http);
      const member = askedRaft.voters.includes(n.id) ? 'voter' : askedRaft.learners.includes(n.id) ? 'learner' : 'none';
      if (http === null) return { id: n.id, zone: n.zone, http, reachable: false, raft_role: null, member, term: null, leader: null, applied: null, error: 'no HTTP address in the layout' };
      try {
        const r = await getJson<RaftJson>(`${http}/cluster/raft`, timeoutMs);
        return { id: n.id, zone: n.zone, http, reachable: true, raft_role: r.failed !== null ? 'failed' : r.role, member, term: r.term, leader: r.leader, applied: r.applied, error: r.failed };
      } catch (err) {
        return { id: n.id, zone: n.zone, http, reachable: false, raft_role: null, member, term: null, leader: null, applied: null, error: (err as Error).message };
      }
    }),
  );
  // The leader: the one the reachable members name in the highest term.
  let leader: string | null = null;
  let term: number | null = null;
  for (const m of members) {
    if (m.term === null || m.leader === null) continue;
    if (term === null || m.term > term) {
      term = m.term;
      leader = m.leader;
    }
  }
  const votersReachable = members.filter((m) => m.member === 'voter' && m.reachable && m.raft_role !== 'failed').length;
  const quorum = votersReachable > askedRaft.voters.length / 2 && leader !== null;
  return {
    asked,
    leader,
    term,
    layout_version: layout?.currentVersion ?? control.layout.version,
    layout_read_version: layout?.readVersion ?? null,
    layout_live_versions: layout?.live.length ?? null,
    voters: askedRaft.voters,
    learners: askedRaft.learners,
    voters_reachable: votersReachable,
    quorum,
    healthy: quorum && members.every((m) => m.reachable && m.error === null),
    buckets: control.buckets.length,
    users: control.users.length,
    members,
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatStatus(s: ClusterStatus): string {
  const lines: string[] = [];
  const state = s.healthy ? 'healthy' : s.quorum ? 'degraded (some members unreachable)' : 'NO QUORUM: control changes (buckets, keys, layout) are refused';
  lines.push(`cluster: ${state}`);
  lines.push(`leader:  ${s.leader ?? '(none)'}${s.term !== null ? ` (term ${s.term})` : ''}`);
  const moving = s.layout_live_versions !== null && s.layout_live_versions > 1 ? ` (data moving: ${s.layout_live_versions} versions live, reads use ${s.layout_read_version}; ringstore layout status)` : '';
  lines.push(`voters:  ${s.voters_reachable}/${s.voters.length} reachable; layout version ${s.layout_version}${moving}; ${s.buckets} buckets, ${s.users} users`);
  lines.push('');
  const head = ['MEMBER', 'ZONE', 'RAFT', 'ROLE', 'TERM', 'APPLIED', 'HTTP'];
  const rows = s.members.map((m) => [m.id, m.zone, m.member, m.reachable ? (m.raft_role ?? '?') : 'DOWN', m.term === null ? '-' : String(m.term), m.applied === null ? '-' : String(m.applied), m.http ?? '-']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  lines.push(head.map((h, i) => pad(h, widths[i] as number)).join('  '));
  for (const r of rows) lines.push(r.map((c, i) => pad(c, widths[i] as number)).join('  '));
  const errors = s.members.filter((m) => m.error !== null);
  if (errors.length > 0) {
    lines.push('');
    for (const m of errors) lines.push(`${m.id}: ${m.error}`);
  }
  lines.push('');
  lines.push(`asked ${s.asked}; details: curl ${s.asked}/cluster/raft   (--json for scripts)`);
  return lines.join('\n');
}

export async function runStatus(flags: StatusFlags): Promise<number> {
  let s: ClusterStatus;
  try {
    s = await clusterStatus(flags);
  } catch (err) {
    console.error(`ringstore status: cannot read the cluster through ${baseUrl(flags.node)}: ${(err as Error).message} (give --node http://host:port of any member's HTTP API)`);
    return 1;
  }
  console.log(flags.json === true ? JSON.stringify(s, null, 2) : formatStatus(s));
  return s.quorum ? 0 : 3;
}
