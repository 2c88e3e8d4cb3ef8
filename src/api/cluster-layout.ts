// The layout admin routes (issue 10; docs/layout.md), over the control plane:
//
//   GET  /cluster/layout         the live versions, every node's progress, the
//                                read version and the staged changes ("show")
//   GET  /cluster/layout/plan    the plan of the staged changes: what moves to
//                                and from each node, bytes, balance after
//   POST /cluster/layout         one operation, a JSON object:
//        {"op":"assign","node":"n4","zone":"z2","capacity":1000000000000}
//        {"op":"assign","node":"g1","gateway":true}
//        {"op":"remove","node":"n2"}
//        {"op":"revert"}
//        {"op":"apply","version":5}     commits the plan as version 5 (412 unless it is current + 1)
//        {"op":"skip-dead","node":"n3"}
//
// Translation only: the plan is src/layout/plan.ts, the commands
// src/control/layout-commands.ts. Mounted under /cluster (admin tokens only).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ControlPlane } from '../control/plane.js';
import type { ApplyResult } from '../control/state.js';
import { current, readVersion, trackedNodes, type LayoutHistory } from '../layout/history.js';
import { planLayout } from '../layout/plan.js';
import type { Member } from '../layout/types.js';
import { ApiError } from './errors.js';
import { methodNotAllowed, readBody, sendJson, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';

export interface LayoutApiDeps {
  readonly plane: ControlPlane;
  /** Each partition's size in bytes (one replica), when the node knows it: the plan then shows bytes moving. */
  readonly partitionBytes?: () => readonly number[] | undefined;
  /** This node's own sync progress (layout/mover.ts status), shown beside the history. */
  readonly sync?: () => Record<string, unknown>;
}

const BODY_LIMIT = 64 * 1024;

/** What GET /cluster/layout shows: the history without the assignments' bulk. */
export function describeHistory(h: LayoutHistory): Record<string, unknown> {
  return {
    partitions: h.partitions,
    replicas: h.replicas,
    currentVersion: current(h)?.version ?? 0,
    readVersion: readVersion(h),
    live: h.versions.map((v) => ({ version: v.version, members: v.members, storageNodes: v.assignment.nodes })),
    progress: Object.fromEntries(trackedNodes(h).map((id) => [id, h.progress[id] ?? { seen: 0, synced: 0, readSeen: 0 }])),
    staged: h.staged,
    stagingSeq: h.stagingSeq,
  };
}

function refusal(r: ApplyResult): never {
  if (r.ok) throw new Error('not a refusal');
  const status = r.code === 'LayoutVersionMismatch' || r.code === 'StagingChanged' ? 412 : r.code === 'NoSuchNode' ? 404 : 400;
  throw new ApiError(status === 412 ? 'PreconditionFailed' : status === 404 ? 'NotFound' : 'InvalidArgument', r.message, { reason: r.code }, status);
}

function field(o: Record<string, unknown>, name: string, kind: 'string' | 'number'): string | number | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (kind === 'string' && (typeof v !== 'string' || v === '')) throw new ApiError('InvalidArgument', `${name} must be a non-empty string`);
  if (kind === 'number' && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) throw new ApiError('InvalidArgument', `${name} must be an integer >= 0`);
  return v as string | number;
}

export function createLayoutApi(deps: LayoutApiDeps): RouteHandler {
  const propose = async (cmd: Parameters<ControlPlane['propose']>[0]): Promise<ApplyResult> => {
    const r = await deps.plane.propose(cmd);
    if (!r.ok) refusal(r);
    return r;
  };

  const post = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse((await readBody(req, BODY_LIMIT)).toString('utf8') || '{}');
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      throw new ApiError('MalformedRequest', 'the body must be a JSON object such as {"op":"assign","node":"n4","zone":"z1","capacity":1000}');
    }
    // Staging and applying read the state: make it current first (Raft §6.4), so a plan is never made from a stale view.
    await deps.plane.confirm();
    const h = deps.plane.state.layoutHistory();
    switch (body.op) {
      case 'assign': {
        const id = field(body, 'node', 'string') as string | undefined;
        if (id === undefined) throw new ApiError('InvalidArgument', 'node is required');
        const staged = h.staged.find((c) => c.op === 'assign' && c.member.id === id);
        const known: Member | undefined = staged?.op === 'assign' ? staged.member : current(h)?.members.find((m) => m.id === id);
        const gateway = body.gateway === true;
        const zone = (field(body, 'zone', 'string') as string | undefined) ?? known?.zone;
        const capacity = gateway ? 0 : ((field(body, 'capacity', 'number') as number | undefined) ?? (known?.role === 'storage' ? known.capacity : undefined));
        if (zone === undefined) throw new ApiError('InvalidArgument', `node ${id} is new: --zone is required`);
        if (capacity === undefined) throw new ApiError('InvalidArgument', `node ${id} is new: --capacity (or --gateway) is required`);
        // A node that joined (server --join) is in the control plane's member list with its addresses: carry them into the layout.
        const joined = deps.plane.state.layout().nodes.find((n) => n.id === id);
        const addresses = known?.addresses ?? joined?.addresses;
        if (known === undefined && joined === undefined && deps.plane.state.layout().nodes.length > 0) throw new ApiError('NotFound', `no node ${id} has joined the cluster: start it with \`ringstore server --join HOST:PORT\` first (ringstore dev add-node does both)`, {}, 404);
        const member: Member = { id, zone, capacity, role: gateway ? 'gateway' : 'storage', ...(addresses !== undefined ? { addresses } : {}) };
        await propose({ type: 'layoutStage', change: { op: 'assign', member } });
        break;
      }
      case 'remove': {
        const id = field(body, 'node', 'string') as string | undefined;
        if (id === undefined) throw new ApiError('InvalidArgument', 'node is required');
        await propose({ type: 'layoutStage', change: { op: 'remove', id } });
        break;
      }
      case 'revert':
        await propose({ type: 'layoutRevert' });
        break;
      case 'apply': {
        const version = field(body, 'version', 'number') as number | undefined;
        if (version === undefined) throw new ApiError('InvalidArgument', 'version is required: apply --version N, N = current + 1 (see the plan)');
        const plan = planLayout(h);
        await propose({ type: 'layoutApply', version, stagingSeq: plan.stagingSeq, assignment: plan.assignment });
        break;
      }
      case 'skip-dead': {
        const id = field(body, 'node', 'string') as string | undefined;
        if (id === undefined) throw new ApiError('InvalidArgument', 'node is required');
        await propose({ type: 'layoutSkipDead', node: id });
        break;
      }
      default:
        throw new ApiError('InvalidArgument', `op must be assign, remove, revert, apply or skip-dead, not ${JSON.stringify(body.op)}`);
    }
    sendJson(res, 200, { ok: true, ...describeHistory(deps.plane.state.layoutHistory()) });
  };

  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    switch (url.path) {
      case '/cluster/layout':
        ctx.route = 'cluster_layout';
        if (req.method === 'GET' || req.method === 'HEAD') return sendJson(res, 200, { ok: true, ...describeHistory(deps.plane.state.layoutHistory()), ...(deps.sync !== undefined ? { sync: deps.sync() } : {}) });
        if (req.method === 'POST') return post(req, res);
        throw methodNotAllowed('GET, HEAD, POST');
      case '/cluster/layout/plan': {
        ctx.route = 'cluster_layout_plan';
        if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
        const plan = planLayout(deps.plane.state.layoutHistory(), deps.partitionBytes?.());
        // The assignment is what apply commits; the plan's reader wants the rest.
        const { assignment: _assignment, ...rest } = plan;
        return sendJson(res, 200, { ok: true, ...rest });
      }
      default:
        throw new ApiError('NotFound', `no such endpoint: ${url.path} (try /cluster/layout, /cluster/layout/plan)`);
    }
  };
}
