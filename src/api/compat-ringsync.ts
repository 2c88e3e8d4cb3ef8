// RingSync's REST shape (seed-apis.md §2: `POST /create`, `/read`, `/update`,
// `/delete` with JSON bodies), as a thin adapter over the coordinator, so a
// RingSync client (its `portal.py`) runs against ringstore unchanged, except
// that it must send credentials like every other client.
//
// RingSync keeps one value per key and no quorum. Here the keys live in one
// internal bucket, replicated and read at the cluster's quorum; every write
// reads first and supersedes what its read saw (read-first.ts, mode
// 'everything'), which is what "create overwrites" and "update replaces"
// mean (the read is the quorum read that also decides "did it exist").
// Concurrent writes through different nodes can still leave siblings:
// a read then answers the newest by timestamp in `key` and lists them all in
// `values`, instead of hiding the conflict.
//
// Answer fields keep RingSync's names and types: `update` is the string
// "True" or "False"; `key` carries the value on a read; `vector`, `hashes`
// and `servers` are lists (here: each replica's clock, the key's ring
// partition, the replicas that answered).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Coordinator } from '../coordinator/coordinator.js';
import { readFirstContext } from '../coordinator/read-first.js';
import type { GetResult, PutResult } from '../coordinator/types.js';
import { liveSiblings, type NodeId, type VersionVector } from '../version/dvv.js';
import { ApiError } from './errors.js';
import { methodNotAllowed, readBody, sendJson, type Mount, type RouteHandler } from './http.js';

/** The internal bucket RingSync's keys live in. */
export const RINGSYNC_BUCKET = '__ringsync';
/** RingSync's keys and values are short strings; a generous bound still. */
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_KEY_CHARS = 1024;

export interface RingSyncDeps {
  readonly coordinator: Coordinator;
  /** The cluster's read and write quorum for these keys. */
  readonly quorum: { readonly n: number; readonly r: number; readonly w: number };
}

type Op = 'create' | 'read' | 'update' | 'delete';

interface Body {
  readonly key: string;
  readonly value?: string;
}

async function parseBody(req: IncomingMessage, op: Op): Promise<Body> {
  const raw = await readBody(req, MAX_BODY_BYTES);
  let o: unknown;
  try {
    o = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError('MalformedRequest', 'the body must be JSON, e.g. {"key":"k","value":"v"}');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ApiError('MalformedRequest', 'the body must be a JSON object');
  const { key, value } = o as { key?: unknown; value?: unknown };
  if (typeof key !== 'string' || key === '' || key.length > MAX_KEY_CHARS) throw new ApiError('InvalidArgument', `"key" must be a string of 1 to ${MAX_KEY_CHARS} characters`);
  if (op === 'create' || op === 'update') {
    if (typeof value !== 'string') throw new ApiError('InvalidArgument', `${op} needs "value", a string`);
    return { key, value };
  }
  return { key };
}

function clocks(c: Readonly<Record<NodeId, VersionVector | null>>): Record<string, unknown>[] {
  return Object.keys(c)
    .sort()
    .map((node) => ({ node, clock: c[node] }));
}

function shape(r: GetResult | PutResult, servers: readonly NodeId[]): { vector: Record<string, unknown>[]; hashes: number[]; servers: NodeId[] } {
  return { vector: clocks(r.vectorClocks), hashes: [r.partition], servers: [...servers] };
}

function values(r: GetResult): string[] {
  // Newest first (HLC timestamp, then dot, so every node orders ties alike).
  return liveSiblings(r.set)
    .slice()
    .sort((a, b) => b.meta.ts - a.meta.ts || (a.dot.node < b.dot.node ? 1 : a.dot.node > b.dot.node ? -1 : b.dot.counter - a.dot.counter))
    .map((s) => Buffer.from(s.value as Uint8Array).toString('utf8'));
}

export function createRingSyncApi(deps: RingSyncDeps): Mount[] {
  const { coordinator, quorum } = deps;
  const read = (key: string): Promise<GetResult> => coordinator.get({ bucket: RINGSYNC_BUCKET, key, n: quorum.n, r: quorum.r, sloppy: false });
  // Written with the context of the read that decided "existed": it supersedes exactly what that quorum read saw.
  const write = (key: string, value: string | null, before: GetResult): Promise<PutResult> =>
    coordinator.put({
      bucket: RINGSYNC_BUCKET,
      key,
      value: value === null ? null : Buffer.from(value, 'utf8'),
      meta: { contentType: 'text/plain; charset=utf-8' },
      context: readFirstContext(before, 'everything'),
      supersedeVisible: true,
      n: quorum.n,
      w: quorum.w,
    });

  const ops: Record<Op, (b: Body) => Promise<Record<string, unknown>>> = {
    async create(b) {
      const before = await read(b.key);
      const existed = values(before).length > 0;
      const r = await write(b.key, b.value ?? '', before);
      return { update: existed ? 'True' : 'False', key: b.key, value: b.value, ...shape(r, r.replicasWritten) };
    },
    async update(b) {
      const before = await read(b.key);
      if (values(before).length === 0) return { update: 'False', key: b.key, value: b.value, ...shape(before, before.replicasRead) };
      const r = await write(b.key, b.value ?? '', before);
      return { update: 'True', key: b.key, value: b.value, ...shape(r, r.replicasWritten) };
    },
    async read(b) {
      const r = await read(b.key);
      const vs = values(r);
      if (vs.length === 0) return { update: 'False', key: null, ...shape(r, r.replicasRead) };
      return { update: 'True', key: vs[0], ...(vs.length > 1 ? { values: vs } : {}), ...shape(r, r.replicasRead) };
    },
    async delete(b) {
      const before = await read(b.key);
      if (values(before).length === 0) return { update: 'False', key: b.key, ...shape(before, before.replicasRead) };
      const r = await write(b.key, null, before);
      return { update: 'True', key: b.key, ...shape(r, r.replicasWritten) };
    },
  };

  return (Object.keys(ops) as Op[]).map((op) => {
    const handler: RouteHandler = async (req: IncomingMessage, res: ServerResponse, url, ctx) => {
      ctx.route = `ringsync_${op}`;
      if (url.path !== `/${op}`) throw new ApiError('NotFound', `no such endpoint: ${url.path}`);
      if (req.method !== 'POST') throw methodNotAllowed('POST');
      sendJson(res, 200, await ops[op](await parseBody(req, op)));
    };
    return { prefix: `/${op}`, handler };
  });
}
