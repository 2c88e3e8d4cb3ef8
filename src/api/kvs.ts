// The course key-value store's HTTP API, exactly (seed 004, UCSC CMPS 128
// HW4; ../shared/seed-apis.md §0; docs/kvs.md): GET, PUT and DELETE /kvs with
// `causal_payload` and `timestamp`, `view_update`, and the partition
// queries. A "partition" of the course is a replica group of K nodes
// (layout/groups.ts); keys live in the internal bucket `__kvs`, placed by
// the layout history like any other data, and reached through the
// coordinator with N = K, R = W = 1 and no stand-ins outside the group.
//
// Status codes and bodies follow the course (HW2-HW4): PUT 201 for a new key
// and 200 with "replaced": 1 for an existing one; a missing key 404
// {"msg":"error","error":"key does not exist"}; a key whose group cannot be
// reached (or cannot yet serve a read as new as the client's payload) 503
// {"msg":"error","error":"key value store is not available"}, always within
// the course's second.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { QuorumError, type GetResult, type PutResult } from '../coordinator/types.js';
import { vvDescends, vvJoin, type VersionVector } from '../version/dvv.js';
import { decodePayload, nextPayload, PayloadError, timestampOf, winner } from './kvs-payload.js';
import { readBody, sendJson } from './http.js';

/** The internal bucket the course's keys live in (a system bucket: its name is its storage namespace). */
export const KVS_BUCKET = '__kvs';
export const MAX_KEY_CHARS = 200;
export const MAX_VALUE_BYTES = 1024 * 1024;
/** The course counts an answer slower than 1 s as the store being down: every key operation answers by then. */
export const DEFAULT_BUDGET_MS = 800;

/** What the routes ask of the coordinator (the node's Coordinator satisfies it). */
export interface KvsCoordinator {
  get(req: { bucket: string; key: string; n?: number; r?: number; sloppy?: boolean; oneAtATime?: boolean; omitValues?: boolean }): Promise<GetResult>;
  put(req: { bucket: string; key: string; value: Uint8Array | null; context: VersionVector | null; supersedeVisible?: boolean; n?: number; w?: number; sloppy?: boolean; meta?: { contentType?: string } }): Promise<PutResult>;
}

/** The cluster as the course sees it, from the layout history (node/course-mode.ts builds it). */
export interface KvsCluster {
  /** The groups of the current layout version, by id, as "ip:port" lists. */
  groups(): readonly (readonly string[])[];
  /** This node's group id, or undefined when it is in none (not yet added, or removed). */
  selfGroup(): number | undefined;
  /** The group a key belongs to now, and how many replicas its partition has in the version reads use. */
  placeKey(key: string): { readonly group: number; readonly replicas: number } | undefined;
  /** Live keys of the course's bucket this node holds. */
  countKeys(): Promise<number>;
  /** Adds or removes a node; resolves once keys have moved and old copies are gone. */
  viewUpdate(type: 'add' | 'remove', ipPort: string): Promise<{ readonly partitionId?: number; readonly partitions: number }>;
}

export interface KvsDeps {
  readonly coordinator: KvsCoordinator;
  readonly cluster: KvsCluster;
  /** Replicas per group: the course's K. */
  readonly k: number;
  readonly now: () => number;
  /** How long a key operation may take before it answers "not available". Default DEFAULT_BUDGET_MS. */
  readonly budgetMs?: number;
  readonly onInternalError?: (err: unknown, what: string) => void;
  /** Why a key operation answered 503 (the cause stays out of the course's error body). */
  readonly onUnavailable?: (why: string) => void;
}

/** An answer with a status: every error body is {"msg":"error","error":...}. */
class KvsAnswer extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body['error'] ?? body['msg']));
  }
}

const fail = (status: number, error: string): KvsAnswer => new KvsAnswer(status, { msg: 'error', error });
const UNAVAILABLE = 'key value store is not available';

/** Parameters from the query and, for a form body, the body (the course sends PUT's in the body, GET's and DELETE's in the query). */
async function params(req: IncomingMessage, query: URLSearchParams): Promise<URLSearchParams> {
  const out = new URLSearchParams(query);
  if (req.method === 'GET' || req.method === 'HEAD') return out;
  const raw = await readBody(req, MAX_VALUE_BYTES + 64 * 1024);
  if (raw.length === 0) return out;
  const type = String(req.headers['content-type'] ?? '');
  let body: URLSearchParams;
  if (type.includes('application/json')) {
    let o: unknown;
    try {
      o = JSON.parse(raw.toString('utf8'));
    } catch {
      throw fail(400, 'the body is not valid JSON');
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw fail(400, 'the body must be a JSON object');
    body = new URLSearchParams();
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) body.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  } else body = new URLSearchParams(raw.toString('utf8'));
  for (const [k, v] of body) out.set(k, v);
  return out;
}

function keyOf(p: URLSearchParams): string {
  const key = p.get('key');
  if (key === null || key === '') throw fail(400, 'key is missing');
  if (key.length > MAX_KEY_CHARS) throw fail(400, `key is longer than ${MAX_KEY_CHARS} characters`);
  return key;
}

function payloadOf(p: URLSearchParams): VersionVector | null {
  try {
    return decodePayload(p.get('causal_payload'));
  } catch (err) {
    if (err instanceof PayloadError) throw fail(400, err.message);
    throw err;
  }
}

export function createKvsApi(deps: KvsDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { coordinator, cluster, k } = deps;
  const budget = deps.budgetMs ?? DEFAULT_BUDGET_MS;

  const place = (key: string): { group: number; replicas: number } => {
    const at = cluster.placeKey(key);
    if (at === undefined) throw fail(503, UNAVAILABLE);
    return at;
  };

  /**
   * A read at least as new as `seen`: one replica first (any member of the
   * group will do when the client has seen nothing); if that replica has not
   * seen everything the client has, every replica of the group. Never an
   * older answer: unavailable instead (§4 of the issue: causal sessions).
   */
  const consistentRead = async (key: string, replicas: number, seen: VersionVector | null, omitValues: boolean): Promise<GetResult> => {
    const n = Math.min(k, replicas);
    const one = await coordinator.get({ bucket: KVS_BUCKET, key, n, r: 1, sloppy: false, ...(omitValues ? { omitValues: true, oneAtATime: true } : {}) });
    if (seen === null || vvDescends(one.context, seen)) return one;
    const all = await coordinator.get({ bucket: KVS_BUCKET, key, n, r: n, sloppy: false, ...(omitValues ? { omitValues: true } : {}) });
    if (vvDescends(all.context, seen)) return all;
    deps.onUnavailable?.(`${key}: no replica of the group has seen the client's payload yet`);
    throw fail(503, UNAVAILABLE);
  };

  const get = async (p: URLSearchParams): Promise<KvsAnswer> => {
    const key = keyOf(p);
    const seen = payloadOf(p);
    const at = place(key);
    const r = await consistentRead(key, at.replicas, seen, false);
    const w = winner(r.set);
    if (w === undefined || w.value === null) throw fail(404, 'key does not exist');
    return new KvsAnswer(200, {
      msg: 'success',
      value: Buffer.from(w.value).toString('utf8'),
      partition_id: at.group,
      causal_payload: nextPayload(seen, r.context),
      timestamp: timestampOf(w, deps.now()),
    });
  };

  /** A write after a read: it supersedes what the read saw and what the client had seen (so it wins over both, Dynamo §4.4). */
  const write = async (key: string, value: string | null, seen: VersionVector | null, at: { group: number; replicas: number }): Promise<{ existed: boolean; put: PutResult }> => {
    const before = await consistentRead(key, at.replicas, seen, true);
    const w = winner(before.set);
    const existed = w !== undefined && w.value !== null;
    if (value === null && !existed) throw fail(404, 'key does not exist');
    const context = seen === null ? before.context : vvJoin(seen, before.context);
    const n = Math.min(k, at.replicas);
    const put = await coordinator.put({
      bucket: KVS_BUCKET,
      key,
      value: value === null ? null : Buffer.from(value, 'utf8'),
      context,
      // Last write wins: also whatever the origin replica holds that the read missed.
      supersedeVisible: true,
      n,
      w: 1,
      sloppy: false,
      meta: { contentType: 'text/plain; charset=utf-8' },
    });
    return { existed, put };
  };

  const putKey = async (p: URLSearchParams): Promise<KvsAnswer> => {
    const key = keyOf(p);
    const value = p.get('value');
    if (value === null) throw fail(400, 'value is missing');
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw fail(400, 'value is larger than 1 MiB');
    const seen = payloadOf(p);
    const at = place(key);
    const { existed, put } = await write(key, value, seen, at);
    return new KvsAnswer(existed ? 200 : 201, {
      msg: 'success',
      replaced: existed ? 1 : 0,
      partition_id: at.group,
      causal_payload: nextPayload(seen, put.context),
      timestamp: timestampOf(winner(put.set), deps.now()),
    });
  };

  const deleteKey = async (p: URLSearchParams): Promise<KvsAnswer> => {
    const key = keyOf(p);
    const seen = payloadOf(p);
    const at = place(key);
    const { put } = await write(key, null, seen, at);
    return new KvsAnswer(200, {
      msg: 'success',
      partition_id: at.group,
      causal_payload: nextPayload(seen, put.context),
      timestamp: timestampOf(winner(put.set), deps.now()),
    });
  };

  /** Key operations answer within the budget: a group that cannot answer in time is unavailable. */
  const timed = async (op: () => Promise<KvsAnswer>): Promise<KvsAnswer> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        op().catch((err: unknown) => {
          if (err instanceof KvsAnswer) throw err;
          // A quorum not reached, or a coordinator refusal of another kind (no owners yet, a layout being applied): "not now".
          if (err instanceof QuorumError || (err instanceof Error && 'code' in err && typeof (err as { code: unknown }).code === 'string')) {
            deps.onUnavailable?.((err as Error).message);
            throw fail(503, UNAVAILABLE);
          }
          throw err;
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            deps.onUnavailable?.(`no answer within ${budget} ms`);
            reject(fail(503, UNAVAILABLE));
          }, budget);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  const route = async (req: IncomingMessage, url: URL): Promise<KvsAnswer> => {
    const p = await params(req, url.searchParams);
    const method = req.method ?? 'GET';
    switch (url.pathname.replace(/\/+$/, '') || '/') {
      case '/kvs':
        if (method === 'GET') return timed(() => get(p));
        if (method === 'PUT' || method === 'POST') return timed(() => putKey(p));
        if (method === 'DELETE') return timed(() => deleteKey(p));
        throw fail(405, `method ${method} is not allowed on /kvs (GET, PUT, DELETE)`);
      case '/kvs/view_update': {
        if (method !== 'PUT' && method !== 'POST') throw fail(405, `method ${method} is not allowed on /kvs/view_update (PUT)`);
        const type = p.get('type');
        const ipPort = p.get('ip_port');
        if (type !== 'add' && type !== 'remove') throw fail(400, 'type must be add or remove');
        if (ipPort === null || !/^[^\s:]+:\d{1,5}$/.test(ipPort)) throw fail(400, 'ip_port must be ip:port');
        const r = await cluster.viewUpdate(type, ipPort);
        return new KvsAnswer(200, type === 'add' ? { msg: 'success', partition_id: r.partitionId ?? null, number_of_partitions: r.partitions } : { msg: 'success', number_of_partitions: r.partitions });
      }
      case '/kvs/get_partition_id': {
        const g = cluster.selfGroup();
        if (g === undefined) throw fail(503, 'this node is in no partition (it has not been added, or it was removed)');
        return new KvsAnswer(200, { msg: 'success', partition_id: g });
      }
      case '/kvs/get_all_partition_ids':
        return new KvsAnswer(200, { msg: 'success', partition_id_list: cluster.groups().map((_, i) => i) });
      case '/kvs/get_partition_members': {
        const text = p.get('partition_id');
        const id = text === null || !/^\d+$/.test(text) ? NaN : Number(text);
        const members = Number.isSafeInteger(id) ? cluster.groups()[id] : undefined;
        if (members === undefined) throw fail(404, `partition ${text ?? '(none given)'} does not exist`);
        return new KvsAnswer(200, { msg: 'success', partition_members: [...members] });
      }
      case '/kvs/get_number_of_keys':
        return new KvsAnswer(200, { msg: 'success', count: await cluster.countKeys() });
      default:
        throw fail(404, `no such endpoint: ${url.pathname}`);
    }
  };

  return async (req, res) => {
    let answer: KvsAnswer;
    try {
      answer = await route(req, new URL(req.url ?? '/', 'http://kvs'));
    } catch (err) {
      if (err instanceof KvsAnswer) answer = err;
      else {
        deps.onInternalError?.(err, `${req.method} ${req.url}`);
        answer = fail(500, err instanceof Error ? err.message : String(err));
      }
    }
    if (!res.headersSent) sendJson(res, answer.status, answer.body);
  };
}

export { KvsAnswer, fail as kvsError };
