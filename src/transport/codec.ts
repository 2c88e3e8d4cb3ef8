// Maps the protocol's TypeScript unions (messages.ts) to and from the objects
// @grpc/proto-loader reads and writes for proto/ringstore.proto.
//
// One table, CASES, holds one entry per message type: its Envelope.body field
// and its two conversions. Adding a message to the protocol is one oneof field
// in the .proto (then `npm run proto:gen`) and one entry here; the compiler
// checks that every message type has exactly one case and that each case
// produces and consumes the generated type of its field.
//
// Envelope.batch (several envelopes in one gRPC message) is framing, not a
// message: grpc-outbox.ts packs and unpacks it; these functions see single envelopes.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

import type { Dot, NodeId, Sibling, SiblingMeta, SiblingSet, VersionVector } from '../version/dvv.js';
import type { MemberState, MemberUpdate, SwimMessage } from './swim-messages.js';
import type { Message, MessageType, Request } from './messages.js';
import type { Envelope } from './generated/ringstore/v1/Envelope.js';
import type { Envelope__Output } from './generated/ringstore/v1/Envelope.js';
import type { Dot__Output } from './generated/ringstore/v1/Dot.js';
import type { Sibling as PSibling, Sibling__Output } from './generated/ringstore/v1/Sibling.js';
import type { SiblingMeta as PSiblingMeta, SiblingMeta__Output } from './generated/ringstore/v1/SiblingMeta.js';
import type { SiblingSet as PSiblingSet, SiblingSet__Output } from './generated/ringstore/v1/SiblingSet.js';
import type { VersionVector as PVersionVector, VersionVector__Output } from './generated/ringstore/v1/VersionVector.js';
import type { SwimReq as PSwimReq, SwimReq__Output } from './generated/ringstore/v1/SwimReq.js';
import type { AeKeySet } from './antientropy-messages.js';
import type { AeKeySet as PAeKeySet, AeKeySet__Output } from './generated/ringstore/v1/AeKeySet.js';
import type { AeShape__Output } from './generated/ringstore/v1/AeShape.js';

export type { Envelope, Envelope__Output };

export { isRequest, RESPONSE_TYPE, type Message, type MessageType } from './messages.js';
type MessageOf<T extends MessageType> = Extract<Message, { readonly type: T }>;

/** The names of Envelope's `body` oneof fields. */
export type BodyField = NonNullable<Envelope['body']>;

/** A message that does not decode: missing body, unknown field, missing required part. */
export class CodecError extends Error {
  override name = 'CodecError';
}

// ------------------------------------------------------------------ loading

/** The proto-loader options the generated types (src/transport/generated) were made with. */
export const PROTO_LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  defaults: true,
  oneofs: true,
};

/**
 * Where proto/ringstore.proto is: compiled code runs from dist/src/transport/
 * (three levels below the repository), sources from src/transport/ (two).
 */
export function protoPath(): string {
  const candidates = [
    new URL('../../../proto/ringstore.proto', import.meta.url),
    new URL('../../proto/ringstore.proto', import.meta.url),
  ];
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new Error(`proto/ringstore.proto not found (looked at ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

let cachedDefinition: protoLoader.PackageDefinition | undefined;

/** The loaded package definition (loaded once per process). */
export function packageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync(protoPath(), PROTO_LOAD_OPTIONS);
  return cachedDefinition;
}

function envelopeType(): protoLoader.MessageTypeDefinition<Envelope, Envelope__Output> {
  const def = packageDefinition()['ringstore.v1.Envelope'];
  if (def === undefined || !('fileDescriptorProtos' in def)) throw new Error('ringstore.v1.Envelope missing from proto');
  return def as protoLoader.MessageTypeDefinition<Envelope, Envelope__Output>;
}

/** Envelope to wire bytes, exactly as gRPC would serialize it. */
export function encodeEnvelope(env: Envelope): Buffer {
  return envelopeType().serialize(env);
}

/** Wire bytes to Envelope, exactly as gRPC would deserialize it. */
export function decodeEnvelope(bytes: Buffer): Envelope__Output {
  return envelopeType().deserialize(bytes);
}

// ------------------------------------------------------------------ shared parts

function need<T>(v: T | null | undefined, what: string): T {
  if (v === null || v === undefined) throw new CodecError(`missing ${what}`);
  return v;
}

function encVV(vv: VersionVector): PVersionVector {
  return { counters: vv as Record<string, number> };
}

function decVV(p: VersionVector__Output | null | undefined, what: string): VersionVector {
  return need(p, what).counters;
}

function decDot(p: Dot__Output | null): Dot {
  const d = need(p, 'dot');
  return { node: d.node, counter: d.counter };
}

/**
 * A decoded bytes field is a Buffer viewing the received message. Return a
 * plain Uint8Array (so that values compare equal whichever transport carried
 * them); view the buffer when the value is most of it, copy small values out
 * of big buffers so that they do not pin the whole message in memory.
 */
function decBytes(b: Buffer): Uint8Array {
  if (b.byteLength * 2 >= b.buffer.byteLength) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return new Uint8Array(b);
}

function encValue(v: Uint8Array | null): Uint8Array | undefined {
  return v === null ? undefined : v;
}

function decValue(p: { value?: Buffer; _value?: 'value' }): Uint8Array | null {
  return p.value === undefined ? null : decBytes(p.value);
}

function encMeta(m: Omit<SiblingMeta, 'ts'> & { ts?: number }): PSiblingMeta {
  const out: PSiblingMeta = { ts: m.ts ?? 0 };
  if (m.contentType !== undefined) out.content_type = m.contentType;
  if (m.headers !== undefined) out.headers = m.headers as Record<string, string>;
  return out;
}

/** An empty header map decodes as "no headers": the wire cannot tell them apart. */
function decMetaNoTs(p: SiblingMeta__Output | null): { contentType?: string; headers?: Record<string, string> } {
  const m = need(p, 'meta');
  const out: { contentType?: string; headers?: Record<string, string> } = {};
  if (m.content_type !== undefined) out.contentType = m.content_type;
  if (Object.keys(m.headers).length > 0) out.headers = m.headers;
  return out;
}

function decMeta(p: SiblingMeta__Output | null): SiblingMeta {
  return { ts: need(p, 'meta').ts, ...decMetaNoTs(p) };
}

/**
 * Values the receiver of a message already holds need not travel: a
 * replica's answer to a write would otherwise carry the written value (a
 * 4 MiB chunk) straight back to the writer just to report the stored set.
 * The encoder leaves out the values `omit` picks (marking them
 * `value_elided`); the decoder takes them back from `restore`, by dot.
 */
export interface Elision {
  readonly omit?: (s: Sibling) => boolean;
  readonly restore?: (dot: Dot) => Uint8Array | undefined;
}

function encSibling(s: Sibling, el?: Elision): PSibling {
  if (s.value !== null && el?.omit?.(s) === true) return { dot: s.dot, past: encVV(s.past), meta: encMeta(s.meta), value_elided: true };
  return { dot: s.dot, past: encVV(s.past), value: encValue(s.value), meta: encMeta(s.meta) };
}

function decSibling(p: Sibling__Output, el?: Elision): Sibling {
  const dot = decDot(p.dot);
  let value: Uint8Array | null;
  if (p.value_elided) {
    const v = el?.restore?.(dot);
    if (v === undefined) throw new CodecError(`the value of ${dot.node}:${dot.counter} was left out and is not known here`);
    value = v;
  } else value = decValue(p);
  return { dot, past: decVV(p.past, 'past'), value, meta: decMeta(p.meta) };
}

export function encSet(set: SiblingSet, el?: Elision): PSiblingSet {
  return { siblings: set.siblings.map((s) => encSibling(s, el)) };
}

export function decSet(p: SiblingSet__Output | null | undefined, el?: Elision): SiblingSet {
  return { siblings: need(p, 'sibling set').siblings.map((s) => decSibling(s, el)) };
}

function optString(s: string | undefined): string | null {
  return s === undefined ? null : s;
}

const MEMBER_STATES: ReadonlySet<string> = new Set<MemberState>(['alive', 'suspect', 'dead', 'left']);
const SWIM_KINDS: ReadonlySet<string> = new Set<SwimMessage['type']>(['swimPing', 'swimAck', 'swimPingReq', 'swimNack']);

function encSwim(m: SwimMessage): PSwimReq {
  return {
    kind: m.type,
    seq: m.seq,
    from: m.from,
    target: m.type === 'swimPingReq' ? m.target : '',
    updates: m.updates.map((u) => ({ node: u.node, state: u.state, incarnation: u.incarnation, ...(u.from !== undefined ? { accuser: u.from } : {}) })),
  };
}

function decSwim(p: SwimReq__Output): SwimMessage {
  if (!SWIM_KINDS.has(p.kind)) throw new CodecError(`unknown SWIM packet kind ${JSON.stringify(p.kind)}`);
  const updates: MemberUpdate[] = p.updates.map((u) => {
    if (!MEMBER_STATES.has(u.state)) throw new CodecError(`unknown member state ${JSON.stringify(u.state)}`);
    return { node: u.node, state: u.state as MemberState, incarnation: u.incarnation, ...(u.accuser !== undefined ? { from: u.accuser } : {}) };
  });
  const kind = p.kind as SwimMessage['type'];
  if (kind === 'swimPingReq') return { type: kind, seq: p.seq, from: p.from, target: p.target, updates };
  return { type: kind, seq: p.seq, from: p.from, updates };
}

function encAeKeySet(e: AeKeySet): PAeKeySet {
  return { bucket: e.bucket, key: e.key, set: e.set === null ? null : encSet(e.set) };
}

function decAeKeySet(p: AeKeySet__Output): AeKeySet {
  return { bucket: p.bucket, key: p.key, set: p.set === null ? null : decSet(p.set) };
}

function decAeShape(p: AeShape__Output | null): { fanout: number; depth: number } {
  const s = need(p, 'tree shape');
  return { fanout: s.fanout, depth: s.depth };
}

// ------------------------------------------------------------------ the table

interface Case<M extends Message, F extends BodyField> {
  readonly field: F;
  readonly encode: (m: M, el?: Elision) => NonNullable<Envelope[F]>;
  readonly decode: (p: NonNullable<Envelope__Output[F]>, el?: Elision) => M;
}

function c<M extends Message, F extends BodyField>(
  field: F,
  encode: (m: M, el?: Elision) => NonNullable<Envelope[F]>,
  decode: (p: NonNullable<Envelope__Output[F]>, el?: Elision) => NoInfer<M>,
): Case<M, F> {
  return { field, encode, decode };
}

/** A case for message M on whichever body field (a union over the fields). */
type SomeCase<M extends Message> = { [F in BodyField]: Case<M, F> }[BodyField];
type Cases = { readonly [T in MessageType]: SomeCase<MessageOf<T>> };

const CASES: Cases = {
  // ---- requests
  putOrigin: c('put_origin',
    (m: MessageOf<'putOrigin'>) => ({
      bucket: m.bucket,
      key: m.key,
      value: encValue(m.value),
      meta: encMeta(m.meta),
      context: m.context === null ? null : encVV(m.context),
      supersede_local: m.supersedeLocal,
      hint_for: m.hintFor ?? undefined,
    }),
    (p) => ({
      type: 'putOrigin',
      bucket: p.bucket,
      key: p.key,
      value: decValue(p),
      meta: decMetaNoTs(p.meta),
      context: p.context === null ? null : p.context.counters,
      supersedeLocal: p.supersede_local,
      hintFor: optString(p.hint_for),
    })),
  putReplica: c('put_replica',
    (m: MessageOf<'putReplica'>) => ({ bucket: m.bucket, key: m.key, set: encSet(m.set), hint_for: m.hintFor ?? undefined, as_of_ms: m.asOf }),
    (p) => ({ type: 'putReplica', bucket: p.bucket, key: p.key, set: decSet(p.set), hintFor: optString(p.hint_for), asOf: p.as_of_ms })),
  get: c('get',
    (m: MessageOf<'get'>) => ({ bucket: m.bucket, key: m.key, omit_values: m.omitValues === true }),
    (p) => ({ type: 'get', bucket: p.bucket, key: p.key, ...(p.omit_values ? { omitValues: true } : {}) })),
  listKeys: c('list_keys',
    (m: MessageOf<'listKeys'>) => ({ bucket: m.bucket, prefix: m.prefix, after: m.after, limit: m.limit, omit_values: m.omitValues === true }),
    (p) => ({ type: 'listKeys', bucket: p.bucket, prefix: p.prefix, after: p.after, limit: p.limit, ...(p.omit_values ? { omitValues: true } : {}) })),
  ping: c('ping',
    (_m: MessageOf<'ping'>) => ({}),
    () => ({ type: 'ping' })),
  swim: c('swim',
    (m: MessageOf<'swim'>) => encSwim(m.msg),
    (p) => ({ type: 'swim', msg: decSwim(p) })),
  aeRoots: c('ae_roots',
    (m: MessageOf<'aeRoots'>) => ({ shape: m.shape, partitions: [...m.partitions] }),
    (p) => ({ type: 'aeRoots', shape: decAeShape(p.shape), partitions: p.partitions })),
  aeHashes: c('ae_hashes',
    (m: MessageOf<'aeHashes'>) => ({ shape: m.shape, partition: m.partition, level: m.level, indices: [...m.indices] }),
    (p) => ({ type: 'aeHashes', shape: decAeShape(p.shape), partition: p.partition, level: p.level, indices: p.indices })),
  aeLeafKeys: c('ae_leaf_keys',
    (m: MessageOf<'aeLeafKeys'>) => ({ shape: m.shape, partition: m.partition, leaves: [...m.leaves], after: m.after, limit: m.limit }),
    (p) => ({
      type: 'aeLeafKeys',
      shape: decAeShape(p.shape),
      partition: p.partition,
      leaves: p.leaves,
      after: p.after === null ? null : { bucket: p.after.bucket, key: p.after.key },
      limit: p.limit,
    })),
  aeFetch: c('ae_fetch',
    (m: MessageOf<'aeFetch'>) => ({ partition: m.partition, keys: m.keys.map((k) => ({ bucket: k.bucket, key: k.key })), max_bytes: m.maxBytes }),
    (p) => ({ type: 'aeFetch', partition: p.partition, keys: p.keys.map((k) => ({ bucket: k.bucket, key: k.key })), maxBytes: p.max_bytes })),
  aePush: c('ae_push',
    (m: MessageOf<'aePush'>) => ({ partition: m.partition, entries: m.entries.map(encAeKeySet), as_of_ms: m.asOf }),
    (p) => ({ type: 'aePush', partition: p.partition, entries: p.entries.map(decAeKeySet), asOf: p.as_of_ms })),
  aeGcCheck: c('ae_gc_check',
    (m: MessageOf<'aeGcCheck'>) => ({ partition: m.partition, entries: m.entries.map((e) => ({ bucket: e.bucket, key: e.key, digest: e.digest })) }),
    (p) => ({ type: 'aeGcCheck', partition: p.partition, entries: p.entries.map((e) => ({ bucket: e.bucket, key: e.key, digest: e.digest })) })),
  aeGcRemove: c('ae_gc_remove',
    (m: MessageOf<'aeGcRemove'>) => ({ partition: m.partition, entries: m.entries.map((e) => ({ bucket: e.bucket, key: e.key, digest: e.digest })) }),
    (p) => ({ type: 'aeGcRemove', partition: p.partition, entries: p.entries.map((e) => ({ bucket: e.bucket, key: e.key, digest: e.digest })) })),
  raft: c('raft',
    (m: MessageOf<'raft'>) => ({ version: m.v, payload: m.payload }),
    (p) => ({ type: 'raft', v: p.version, payload: decBytes(p.payload) })),
  // ---- responses
  putOk: c('put_ok',
    (m: MessageOf<'putOk'>, el) => ({ set: encSet(m.set, el) }),
    (p, el) => ({ type: 'putOk', set: decSet(p.set, el) })),
  getOk: c('get_ok',
    (m: MessageOf<'getOk'>) => ({ set: m.set === null ? null : encSet(m.set) }),
    (p) => ({ type: 'getOk', set: p.set === null ? null : decSet(p.set) })),
  listKeysOk: c('list_keys_ok',
    (m: MessageOf<'listKeysOk'>) => ({ keys: m.keys.map((k) => ({ key: k.key, set: encSet(k.set) })), truncated: m.truncated }),
    (p) => ({ type: 'listKeysOk', keys: p.keys.map((k) => ({ key: k.key, set: decSet(k.set) })), truncated: p.truncated })),
  pong: c('pong',
    (m: MessageOf<'pong'>) => ({ node: m.node }),
    (p) => ({ type: 'pong', node: p.node as NodeId })),
  swimOk: c('swim_ok',
    (_m: MessageOf<'swimOk'>) => ({}),
    () => ({ type: 'swimOk' })),
  aeHashesOk: c('ae_hashes_ok',
    (m: MessageOf<'aeHashesOk'>) => ({ hashes: m.hashes }),
    (p) => ({ type: 'aeHashesOk', hashes: decBytes(p.hashes) })),
  aeKeysOk: c('ae_keys_ok',
    (m: MessageOf<'aeKeysOk'>) => ({ entries: m.entries.map((e) => ({ bucket: e.bucket, key: e.key, digest: e.digest })), truncated: m.truncated }),
    (p) => ({ type: 'aeKeysOk', entries: p.entries.map((e) => ({ bucket: e.bucket, key: e.key, digest: e.digest })), truncated: p.truncated })),
  aeSetsOk: c('ae_sets_ok',
    (m: MessageOf<'aeSetsOk'>) => ({ entries: m.entries.map(encAeKeySet) }),
    (p) => ({ type: 'aeSetsOk', entries: p.entries.map(decAeKeySet) })),
  aeCountOk: c('ae_count_ok',
    (m: MessageOf<'aeCountOk'>) => ({ count: m.count }),
    (p) => ({ type: 'aeCountOk', count: p.count })),
  aeGcStatesOk: c('ae_gc_states_ok',
    (m: MessageOf<'aeGcStatesOk'>) => ({ states: [...m.states] }),
    (p) => ({ type: 'aeGcStatesOk', states: p.states })),
  raftOk: c('raft_ok',
    (_m: MessageOf<'raftOk'>) => ({}),
    () => ({ type: 'raftOk' })),
  error: c('error',
    (m: MessageOf<'error'>) => ({ code: m.code, message: m.message }),
    (p) => ({ type: 'error', code: p.code, message: p.message })),
};

const BY_FIELD = new Map<string, Case<Message, BodyField>>();
for (const k of Object.keys(CASES) as MessageType[]) {
  const cs = CASES[k] as unknown as Case<Message, BodyField>;
  BY_FIELD.set(cs.field, cs);
}

// ------------------------------------------------------------------ envelopes

/**
 * Wraps a message for the wire. deadlineMs is the time budget left for a
 * request (0 for responses); id correlates a response with its request.
 */
export function toEnvelope(id: number, deadlineMs: number, msg: Message, el?: Elision): Envelope {
  const cs = CASES[msg.type] as unknown as Case<Message, BodyField>;
  if (cs === undefined) throw new CodecError(`no codec for message type ${String((msg as { type?: unknown }).type)}`);
  const env: Envelope = { id, deadline_ms: deadlineMs };
  (env as Record<string, unknown>)[cs.field] = cs.encode(msg, el);
  return env;
}

/** Values smaller than this travel back anyway: leaving them out saves little. */
const ELIDE_MIN_BYTES = 4096;

/**
 * How the answer to `req` may leave out values (see Elision): a write's
 * answer need not carry back the value the writer sent. putOrigin: the new
 * sibling holds the request's value itself. putReplica: a sibling with the
 * dot of one sent holds that one's value (a dot names one event).
 */
export function answerElision(req: Request): Elision | undefined {
  if (req.type === 'putOrigin') {
    const v = req.value;
    if (v === null || v.byteLength < ELIDE_MIN_BYTES) return undefined;
    return { omit: (s) => s.value === v, restore: () => v };
  }
  if (req.type === 'putReplica') {
    const byDot = new Map<string, Uint8Array>();
    for (const s of req.set.siblings) if (s.value !== null && s.value.byteLength >= ELIDE_MIN_BYTES) byDot.set(`${s.dot.node}:${s.dot.counter}`, s.value);
    if (byDot.size === 0) return undefined;
    return {
      omit: (s) => s.value !== null && byDot.get(`${s.dot.node}:${s.dot.counter}`)?.byteLength === s.value.byteLength,
      restore: (d) => byDot.get(`${d.node}:${d.counter}`),
    };
  }
  return undefined;
}

export interface Unwrapped {
  readonly id: number;
  readonly deadlineMs: number;
  readonly msg: Message;
}

/** Unwraps a received envelope; throws CodecError when it does not decode. */
export function fromEnvelope(env: Envelope__Output, el?: Elision): Unwrapped {
  const field = env.body;
  if (field === undefined) throw new CodecError('envelope without body');
  const cs = BY_FIELD.get(field);
  if (cs === undefined) throw new CodecError(`unknown envelope body ${field}`);
  const part = (env as unknown as Record<string, unknown>)[field];
  if (part === null || part === undefined) throw new CodecError(`envelope body ${field} is empty`);
  return { id: env.id, deadlineMs: env.deadline_ms, msg: cs.decode(part as never, el) };
}
