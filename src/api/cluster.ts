// What a node sees of the cluster, on the native API (README, "Seeing it"):
//
//   GET    /cluster/members   this node's membership view: each member's SWIM
//                             state, incarnation, when it was last heard from
//   GET    /cluster/hints     hints this node holds for others, per owner, and
//                             handoff progress
//   GET    /cluster/keys      what this node itself stores for a bucket's keys
//                             (?bucket=&prefix=&after=&limit=): its replicas'
//                             dots and its hints, apart; for tests and the
//                             dashboard ("where a key lives")
//   GET    /cluster/raft, /cluster/control, POST /cluster/control/commands
//                             the control plane (api/cluster-control.ts)
//
// Translation only: the views come from the membership, handoff and store
// pieces through the functions in ClusterApiDeps.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MemberView, SwimCounters } from '../membership/swim.js';
import type { OwnerStatus } from '../handoff/handoff.js';
import type { StoredHint, StoredKey } from '../store/store.js';
import { setClock, type NodeId, type SiblingSet } from '../version/dvv.js';
import { ApiError } from './errors.js';
import { handleControlRoute, type ClusterControlDeps } from './cluster-control.js';
import { methodNotAllowed, sendJson, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';

export interface ClusterApiDeps {
  readonly self: NodeId;
  readonly now: () => number;
  readonly membership: () => {
    readonly detector: 'swim' | 'passive';
    readonly incarnation: number | null;
    readonly healthScore: number | null;
    readonly members: readonly MemberView[];
    readonly counters: SwimCounters | null;
  };
  readonly addresses: ReadonlyMap<NodeId, { readonly grpc: string; readonly http?: string }>;
  readonly hints: () => { readonly owners: readonly OwnerStatus[]; readonly delivered: number; readonly failed: number };
  /** The storage name of a bucket given by name (coordinator/buckets-types.ts storageBucket); without it, the name itself. */
  readonly storageOf?: (bucket: string) => Promise<string>;
  readonly scanBucket: (bucket: string, opts: { prefix?: string; after?: string; limit?: number }) => Iterable<StoredKey>;
  readonly scanBucketHints: (bucket: string, opts: { prefix?: string; after?: string; limit?: number }) => Iterable<StoredHint>;
  /** The control plane's routes (absent: not served). */
  readonly control?: ClusterControlDeps;
  /** issue 10: /cluster/layout and /cluster/layout/plan (api/cluster-layout.ts; absent: not served). */
  readonly layout?: RouteHandler;
}

const KEYS_LIMIT_MAX = 10_000;

function dots(set: SiblingSet): string[] {
  return set.siblings.map((s) => `${s.dot.node}:${s.dot.counter}${s.value === null ? ':tombstone' : ''}`);
}

export function createClusterApi(deps: ClusterApiDeps): RouteHandler {
  const members = (res: ServerResponse): void => {
    const m = deps.membership();
    const now = deps.now();
    sendJson(res, 200, {
      ok: true,
      node: deps.self,
      detector: m.detector,
      incarnation: m.incarnation,
      health_score: m.healthScore,
      members: m.members.map((v) => ({
        id: v.id,
        state: v.state,
        incarnation: v.incarnation,
        last_heard_ms_ago: v.lastHeardMs === null ? null : Math.max(0, now - v.lastHeardMs),
        state_since_ms_ago: Math.max(0, now - v.stateSinceMs),
        grpc: deps.addresses.get(v.id)?.grpc ?? null,
        http: deps.addresses.get(v.id)?.http ?? null,
      })),
      counters: m.counters,
    });
  };

  const hints = (res: ServerResponse): void => {
    const h = deps.hints();
    let total = 0;
    let bytes = 0;
    for (const o of h.owners) {
      total += o.hints;
      bytes += o.bytes;
    }
    const now = deps.now();
    sendJson(res, 200, {
      ok: true,
      node: deps.self,
      pending: total,
      pending_bytes: bytes,
      delivered: h.delivered,
      failed: h.failed,
      owners: h.owners.map((o) => ({
        owner: o.owner,
        hints: o.hints,
        bytes: o.bytes,
        owner_alive: o.alive,
        in_flight: o.inFlight,
        delivered: o.delivered,
        failures: o.failures,
        last_error: o.lastError,
        backoff_ms: o.backoffUntilMs === null ? 0 : Math.max(0, o.backoffUntilMs - now),
      })),
    });
  };

  const keys = async (res: ServerResponse, url: ParsedUrl): Promise<void> => {
    const bucket = url.query.get('bucket');
    if (bucket === null || bucket === '') throw new ApiError('InvalidArgument', 'bucket is required: /cluster/keys?bucket=NAME');
    const storage = deps.storageOf !== undefined ? await deps.storageOf(bucket) : bucket;
    const limitRaw = url.query.get('limit') ?? '1000';
    const limit = /^\d{1,6}$/.test(limitRaw) ? Number(limitRaw) : NaN;
    if (!(limit >= 1 && limit <= KEYS_LIMIT_MAX)) throw new ApiError('InvalidArgument', `limit must be an integer from 1 to ${KEYS_LIMIT_MAX}`);
    const prefix = url.query.get('prefix') ?? '';
    const after = url.query.get('after') ?? undefined;
    const opts = { prefix, limit, ...(after !== undefined ? { after } : {}) };
    const stored = [...deps.scanBucket(storage, opts)].map((k) => ({ key: k.key, partition: k.partition, dots: dots(k.set), clock: setClock(k.set) }));
    const hinted = [...deps.scanBucketHints(storage, opts)].map((h) => ({ key: h.key, partition: h.partition, for: h.owner, dots: dots(h.set), clock: setClock(h.set) }));
    sendJson(res, 200, { ok: true, node: deps.self, bucket, ...(storage !== bucket ? { storage } : {}), keys: stored, hints: hinted, truncated: stored.length >= limit });
  };

  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    if (deps.control !== undefined && (await handleControlRoute(deps.control, req, res, url, ctx))) return;
    if (deps.layout !== undefined && (url.path === '/cluster/layout' || url.path.startsWith('/cluster/layout/'))) return deps.layout(req, res, url, ctx);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
    switch (url.path) {
      case '/cluster/members':
        ctx.route = 'cluster_members';
        return members(res);
      case '/cluster/hints':
        ctx.route = 'cluster_hints';
        return hints(res);
      case '/cluster/keys':
        ctx.route = 'cluster_keys';
        return keys(res, url);
      default:
        throw new ApiError('NotFound', `no such endpoint: ${url.path} (try /cluster/members, /cluster/hints, /cluster/keys, /cluster/raft, /cluster/control)`);
    }
  };
}
