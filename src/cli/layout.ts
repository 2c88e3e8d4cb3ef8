// `ringstore layout show|plan|assign|remove|apply|revert|skip-dead`: stage a
// layout change, read its plan, commit it (docs/layout.md). Each command
// speaks to one node's admin routes (src/api/cluster-layout.ts) and prints
// what it did and what to type next; --json prints the route's answer.
//
// Admin routes: the node and admin token come from --node / --admin-token,
// else the environment, else .data/dev/cluster.json (cli/admin-client.ts).

import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { parseSize } from '../node/config.js';
import { adminNode, adminToken, adminTokenOption, nodeOption } from './admin-client.js';
import { humanSize } from './shell/paths.js';

interface Common {
  readonly node?: string;
  readonly adminToken?: string;
  readonly json?: boolean;
}

type Json = Record<string, unknown>;

async function call(flags: Common, method: 'GET' | 'POST', route: string, body?: Json): Promise<Json> {
  const base = adminNode(flags.node);
  const token = adminToken(flags.adminToken);
  if (token === undefined) throw new Error('admin routes need an admin token: give --admin-token, set RINGSTORE_ADMIN_TOKEN, or run where .data/dev/cluster.json is');
  let res: Response;
  try {
    res = await fetch(new URL(route, base), { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new Error(`cannot reach the node at ${base}: ${(err as Error).message} (give --node http://host:port of a node's HTTP API)`);
  }
  const answer = (await res.json().catch(() => ({}))) as Json;
  if (!res.ok) {
    const e = (answer.error ?? {}) as Json;
    throw new Error(`${method} ${route} on ${base}: ${res.status} ${String(e.code ?? '')}: ${String(e.message ?? '')}`);
  }
  return answer;
}

function pad(cells: readonly string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

function bytes(n: unknown): string {
  return typeof n === 'number' ? humanSize(n) : '-';
}

/** `layout show`, as text, from GET /cluster/layout's answer. */
export function renderShow(a: Json): string {
  const live = a.live as { version: number; members: { id: string; zone: string; role: string; capacity: number }[] }[];
  const progress = a.progress as Record<string, { seen: number; synced: number; readSeen: number }>;
  const staged = a.staged as ({ op: 'assign'; member: { id: string; zone: string; role: string; capacity: number } } | { op: 'remove'; id: string })[];
  const out: string[] = [];
  const cur = live[live.length - 1];
  if (cur === undefined) out.push('no layout yet: stage nodes with `ringstore layout assign NODE --zone Z --capacity C`, then `ringstore layout plan`');
  else {
    out.push(`layout version ${cur.version} (${String(a.partitions)} partitions x ${String(a.replicas)} replicas); reads use version ${String(a.readVersion)}`);
    out.push(pad([['node', 'zone', 'role', 'capacity', 'seen', 'synced', 'reads'], ...cur.members.map((m) => [m.id, m.zone, m.role, m.role === 'gateway' ? '-' : bytes(m.capacity), String(progress[m.id]?.seen ?? 0), String(progress[m.id]?.synced ?? 0), String(progress[m.id]?.readSeen ?? 0)])]));
    if (live.length > 1) out.push(`${live.length} versions live (${live.map((v) => v.version).join(', ')}): data is moving; older versions retire once every node has synced and reads the newer one`);
  }
  if (staged.length === 0) out.push('no staged changes');
  else {
    out.push('staged changes:');
    for (const c of staged) out.push(c.op === 'remove' ? `  remove ${c.id}` : `  assign ${c.member.id} zone=${c.member.zone} ${c.member.role === 'gateway' ? 'gateway' : `capacity=${bytes(c.member.capacity)}`}`);
    out.push('next: `ringstore layout plan` to see what would move, then `ringstore layout apply --version N`');
  }
  return out.join('\n');
}

/** `layout plan`, as text, from GET /cluster/layout/plan's answer. */
export function renderPlan(a: Json): string {
  const nodes = a.nodes as { id: string; zone: string; role: string; change: string; partitionsBefore: number; partitionsAfter: number; partitionsIn: number; partitionsOut: number; bytesIn: number | null; bytesOut: number | null; shareAfter: number }[];
  const out: string[] = [];
  out.push(`plan: version ${String(a.currentVersion)} -> ${String(a.nextVersion)}`);
  out.push(pad([['node', 'zone', 'change', 'partitions', 'in', 'out', 'bytes in', 'bytes out', 'share'], ...nodes.map((n) => [n.id, n.zone, n.change, `${n.partitionsBefore} -> ${n.partitionsAfter}`, String(n.partitionsIn), String(n.partitionsOut), bytes(n.bytesIn), bytes(n.bytesOut), n.role === 'gateway' || n.change === 'removed' ? '-' : n.shareAfter.toFixed(3)])]));
  out.push(`moves ${String(a.replicasMoved)} partition replicas (the fewest possible for these counts: ${String(a.replicasMovedLowerBound)})${a.bytesMoved === null ? '' : `, ${bytes(a.bytesMoved)}`}`);
  out.push(`balance after: ${(a.balanceMin as number).toFixed(3)} .. ${(a.balanceMax as number).toFixed(3)} of each node's capacity share${(a.partitionsUnderSpread as number) > 0 ? `; ${String(a.partitionsUnderSpread)} partitions in fewer zones than possible` : ''}`);
  for (const w of a.warnings as string[]) out.push(`warning: ${w}`);
  out.push(`to commit: ringstore layout apply --version ${String(a.nextVersion)}   (or drop the changes: ringstore layout revert)`);
  return out.join('\n');
}

function print(flags: Common, answer: Json, text: string): void {
  console.log(flags.json === true ? JSON.stringify(answer, null, 2) : text);
}

function common(c: Command): Command {
  return c.addOption(nodeOption()).addOption(adminTokenOption()).option('--json', 'print the JSON answer');
}

function run(fn: () => Promise<void>): Promise<void> {
  return fn().catch((err: unknown) => {
    console.error(`ringstore layout: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}

export function layoutCommand(): Command {
  const layout = new Command('layout').description('stage, plan and apply layout changes: which nodes hold data, in which zones, with what capacity (docs/layout.md)');
  common(layout.command('show').description('the current layout, every node\'s progress, and the staged changes')).action((f: Common) =>
    run(async () => {
      const a = await call(f, 'GET', '/cluster/layout');
      print(f, a, renderShow(a));
    }),
  );
  common(layout.command('plan').description('what the staged changes would move, to and from each node, and the balance after')).action((f: Common) =>
    run(async () => {
      const a = await call(f, 'GET', '/cluster/layout/plan');
      print(f, a, renderPlan(a));
    }),
  );
  common(
    layout
      .command('assign <node>')
      .description('stage a node joining or changing: its zone and capacity, or the gateway role (holds no data)')
      .option('--zone <zone>', 'failure domain (required for a new node)')
      .option('--capacity <size>', 'space the node offers for data, e.g. 2TB or 500GiB (required for a new storage node)')
      .option('--gateway', 'the node coordinates requests and holds no data'),
  ).action((node: string, f: Common & { zone?: string; capacity?: string; gateway?: boolean }) =>
    run(async () => {
      const capacity = f.capacity === undefined ? undefined : f.capacity.trim() === '0' ? 0 : parseSize(f.capacity, '--capacity');
      const a = await call(f, 'POST', '/cluster/layout', { op: 'assign', node, ...(f.zone !== undefined ? { zone: f.zone } : {}), ...(capacity !== undefined ? { capacity } : {}), ...(f.gateway === true ? { gateway: true } : {}) });
      print(f, a, `staged: assign ${node}\nnext: ringstore layout plan`);
    }),
  );
  common(layout.command('remove <node>').description('stage a node\'s removal (its data moves to the others before it owns nothing)')).action((node: string, f: Common) =>
    run(async () => {
      const a = await call(f, 'POST', '/cluster/layout', { op: 'remove', node });
      print(f, a, `staged: remove ${node}\nnext: ringstore layout plan`);
    }),
  );
  common(layout.command('revert').description('drop every staged change')).action((f: Common) =>
    run(async () => {
      const a = await call(f, 'POST', '/cluster/layout', { op: 'revert' });
      print(f, a, 'staged changes dropped');
    }),
  );
  common(layout.command('apply').description('commit the plan of the staged changes as the next version').requiredOption('--version <n>', 'the next version (current + 1, as the plan says)')).action((f: Common & { version: string }) =>
    run(async () => {
      const version = Number(f.version);
      if (!Number.isSafeInteger(version) || version < 1) throw new Error('--version must be a positive integer (the plan names it)');
      const a = await call(f, 'POST', '/cluster/layout', { op: 'apply', version });
      print(f, a, `applied layout version ${version}; data is moving: watch it with ringstore layout show`);
    }),
  );
  common(layout.command('skip-dead <node>').description('declare a node dead for good, so old versions stop waiting for its reports (only if it is down and stays down)')).action((node: string, f: Common) =>
    run(async () => {
      const a = await call(f, 'POST', '/cluster/layout', { op: 'skip-dead', node });
      print(f, a, `${node} let go; old versions may now retire without it`);
    }),
  );
  common(layout.command('status').description('watch data move: a progress bar per node until one layout version is left').option('--once', 'print the progress once and return')).action((f: Common & { once?: boolean }) =>
    run(async () => {
      await watchStatus(f);
    }),
  );
  return layout;
}

interface SyncStatus {
  readonly node: string;
  readonly syncing: number | null;
  readonly partitionsTotal: number;
  readonly partitionsDone: number;
  readonly bytesPulled: number;
  readonly ownsNothing: boolean;
  readonly lastError: string | null;
}

/** Every tracked node's own sync progress (each node's GET /cluster/layout), and the history as the first node sees it. */
export async function layoutProgress(f: Common): Promise<{ history: Json; nodes: { id: string; http: string | undefined; sync: SyncStatus | undefined; error?: string }[] }> {
  const history = await call(f, 'GET', '/cluster/layout');
  const live = history.live as { members: { id: string; addresses?: { http?: string } }[] }[];
  const byId = new Map<string, string | undefined>();
  for (const v of live) for (const m of v.members) byId.set(m.id, m.addresses?.http ?? byId.get(m.id));
  const nodes = await Promise.all(
    [...byId].sort().map(async ([id, http]) => {
      if (http === undefined) return { id, http, sync: undefined, error: 'no HTTP address in the layout' };
      try {
        const a = await call({ ...f, node: http }, 'GET', '/cluster/layout');
        return { id, http, sync: a.sync as SyncStatus };
      } catch (err) {
        return { id, http, sync: undefined, error: (err as Error).message };
      }
    }),
  );
  return { history, nodes };
}

async function watchStatus(f: Common & { once?: boolean }): Promise<void> {
  const done = (p: Awaited<ReturnType<typeof layoutProgress>>): boolean => (p.history.live as unknown[]).length === 1 && p.nodes.every((n) => n.sync !== undefined && n.sync.syncing === null);
  if (f.once === true || f.json === true || !process.stdout.isTTY) {
    for (;;) {
      const p = await layoutProgress(f);
      if (f.json === true) console.log(JSON.stringify(p));
      else for (const n of p.nodes) console.log(`${n.id}: ${n.sync === undefined ? `unknown (${n.error ?? ''})` : n.sync.syncing === null ? 'synced' : `syncing version ${n.sync.syncing}: ${n.sync.partitionsDone}/${n.sync.partitionsTotal} partitions, ${bytes(n.sync.bytesPulled)} pulled`}`);
      if (f.once === true || done(p)) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const bars = new cliProgress.MultiBar({ format: ' {node} [{bar}] {value}/{total} partitions  {state}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  const byNode = new Map<string, cliProgress.SingleBar>();
  try {
    for (;;) {
      const p = await layoutProgress(f);
      const width = Math.max(...p.nodes.map((n) => n.id.length));
      for (const n of p.nodes) {
        const total = Math.max(1, n.sync?.partitionsTotal ?? 1);
        const value = n.sync === undefined ? 0 : n.sync.syncing === null ? total : n.sync.partitionsDone;
        const state = n.sync === undefined ? `unreachable: ${n.error ?? ''}` : n.sync.ownsNothing ? 'owns nothing (may be stopped)' : n.sync.syncing === null ? `synced, ${bytes(n.sync.bytesPulled)} pulled` : `syncing version ${n.sync.syncing}, ${bytes(n.sync.bytesPulled)} pulled`;
        let bar = byNode.get(n.id);
        if (bar === undefined) byNode.set(n.id, (bar = bars.create(total, value, { node: n.id.padEnd(width), state })));
        bar.setTotal(total);
        bar.update(value, { node: n.id.padEnd(width), state });
      }
      if (done(p)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    bars.stop();
  }
  console.log('one layout version is live: every node has synced; nothing is moving');
}
