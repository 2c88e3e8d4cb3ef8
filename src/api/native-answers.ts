// The native API's JSON answers: everything Dynamo hides, shown: who
// coordinated, the preference list, the replicas a write landed on (and the
// hinted ones), every replica's vector clock, the siblings and the causal
// context.

import { isUtf8 } from 'node:buffer';
import type { BucketInfo } from '../coordinator/buckets-types.js';
import type { GetResult, PutResult } from '../coordinator/types.js';
import { encodeContext, type ContextMac } from '../version/context.js';
import type { ReadFirstResult } from '../coordinator/read-first.js';
import { conflictOf } from './conflict.js';
import { liveSiblings, siblingClock, type NodeId, type Sibling, type VersionVector } from '../version/dvv.js';

function clocksJson<T extends VersionVector | null>(clocks: Readonly<Record<NodeId, T>>): Record<NodeId, T> {
  return { ...clocks };
}

/**
 * `storage` is the bucket's storage name (its id): the context token is bound
 * to it, so a token from a bucket that was deleted and made again under the
 * same name is refused instead of covering the new bucket's versions.
 */
export function writeAnswer(bucket: string, storage: string, key: string, r: PutResult, mac: ContextMac): Record<string, unknown> {
  return {
    ok: true,
    bucket,
    key,
    coordinator: r.coordinator,
    origin: r.origin,
    partition: r.partition,
    preference_list: r.preferenceList,
    replicas_written: r.replicasWritten,
    hinted: r.hinted.map((h) => ({ node: h.node, for: h.for })),
    vector_clocks: clocksJson(r.vectorClocks),
    siblings: liveSiblings(r.set).length,
    context: encodeContext(r.context, storage, key, mac),
    ...('read' in r ? { replicas_read: (r as ReadFirstResult).read.replicasRead } : {}),
  };
}

/**
 * Seed 001's names for what a write answer already says (seed-apis.md §1),
 * so its clients read our answers: `pref_list`, and `vector_clock_list`, each
 * written replica's clock in its "node : counter , " text.
 */
export function seed001Fields(r: PutResult): Record<string, unknown> {
  const text = (vv: VersionVector): string =>
    Object.keys(vv)
      .sort()
      .map((n) => `${n} : ${vv[n]} , `)
      .join('');
  return { pref_list: r.preferenceList, vector_clock_list: r.replicasWritten.map((n) => text(r.vectorClocks[n] ?? {})) };
}

function siblingJson(s: Sibling): Record<string, unknown> {
  const value = s.value as Uint8Array;
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const out: Record<string, unknown> = {
    dot: { node: s.dot.node, counter: s.dot.counter },
    clock: siblingClock(s),
    last_modified: new Date(s.meta.ts).toISOString(),
    content_type: s.meta.contentType ?? null,
    size: buf.length,
  };
  if (s.meta.headers !== undefined && Object.keys(s.meta.headers).length > 0) out['headers'] = s.meta.headers;
  if (isUtf8(buf)) out['value'] = buf.toString('utf8');
  out['value_base64'] = buf.toString('base64');
  return out;
}

export function readAnswer(bucket: string, storage: string, key: string, r: GetResult, mac: ContextMac): Record<string, unknown> {
  const live = liveSiblings(r.set);
  return {
    ok: true,
    bucket,
    key,
    coordinator: r.coordinator,
    partition: r.partition,
    preference_list: r.preferenceList,
    replicas_read: r.replicasRead,
    vector_clocks: clocksJson(r.vectorClocks),
    context: encodeContext(r.context, storage, key, mac),
    conflict: conflictOf(r.set),
    siblings: live.map(siblingJson),
    tombstones: r.set.siblings
      .filter((s) => s.value === null)
      .map((s) => ({ dot: { node: s.dot.node, counter: s.dot.counter }, clock: siblingClock(s), last_modified: new Date(s.meta.ts).toISOString() })),
  };
}

export function bucketJson(b: BucketInfo): Record<string, unknown> {
  return { name: b.name, id: b.id, owner: b.owner, created: new Date(b.createdMs).toISOString(), quorum: { n: b.quorum.n, r: b.quorum.r, w: b.quorum.w } };
}
