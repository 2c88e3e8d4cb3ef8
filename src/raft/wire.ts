// Raft messages as bytes, for the inter-node transport (the driver wraps
// them in the transport's `raft` request, transport/messages.ts). The format
// is JSON with byte fields in base64, under a version number that travels
// beside it (RAFT_WIRE_VERSION): a node refuses a message of another
// version rather than guess what it means. Decoding checks every field, so
// nothing malformed from the network reaches the state machine (an
// assertion there would be a crash).
//
// base64 is done here, without Buffer, so that this module stays pure.

import { ENTRY_FORMAT_VERSION, type ConfState, type Entry, type EntryKind, type Message, type Snapshot } from './messages.js';

/** The version of this encoding; bump it when a message's shape changes. */
export const RAFT_WIRE_VERSION = 1;

export class RaftWireError extends Error {
  override name = 'RaftWireError';
}

const enc = new TextEncoder();
const dec = new TextDecoder();

// ------------------------------------------------------------------ base64

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function toBase64(b: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8) | (b[i + 2] as number);
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + ALPHABET.charAt(n & 63);
  }
  if (i < b.length) {
    const n = ((b[i] as number) << 16) | (i + 1 < b.length ? (b[i + 1] as number) << 8 : 0);
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + (i + 1 < b.length ? ALPHABET.charAt((n >> 6) & 63) : '=') + '=';
  }
  return out;
}

export function fromBase64(s: string): Uint8Array {
  if (s.length % 4 !== 0) throw new RaftWireError('bad base64 length');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      const v = c === 61 && i + j >= s.length - pad ? 0 : c < 128 ? (LOOKUP[c] as number) : -1;
      if (v < 0) throw new RaftWireError('bad base64 character');
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

// ------------------------------------------------------------------ encode

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function entryJson(e: Entry): Json {
  return { v: e.v, term: e.term, index: e.index, kind: e.kind, data: toBase64(e.data) };
}

/** One Raft message as bytes (send RAFT_WIRE_VERSION beside them). */
export function encodeRaftMessage(m: Message): Uint8Array {
  const o: Record<string, Json> = { ...(m as unknown as Record<string, Json>) };
  if (m.type === 'app') o['entries'] = m.entries.map(entryJson);
  if (m.type === 'prop') o['entries'] = m.entries.map((e) => ({ kind: e.kind, data: toBase64(e.data) }));
  if (m.type === 'snap') o['snapshot'] = { meta: m.snapshot.meta as unknown as Json, data: toBase64(m.snapshot.data) };
  return enc.encode(JSON.stringify(o));
}

// ------------------------------------------------------------------ decode

function fail(what: string): never {
  throw new RaftWireError(`malformed raft message: ${what}`);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function nat(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} is not a non-negative integer`);
  return v;
}

function str(v: unknown, what: string, max = 256): string {
  if (typeof v !== 'string' || v.length > max) fail(`${what} is not a string of at most ${max} characters`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what} is not a boolean`);
  return v;
}

function bytes(v: unknown, what: string): Uint8Array {
  return fromBase64(str(v, what, 512 * 1024 * 1024));
}

function kind(v: unknown, what: string): EntryKind {
  if (v !== 'normal' && v !== 'conf') fail(`${what} is not normal or conf`);
  return v;
}

function ids(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > 1024) fail(`${what} is not a list of node ids`);
  return v.map((x, i) => {
    const id = str(x, `${what}[${i}]`, 128);
    if (id === '') fail(`${what}[${i}] is empty`);
    return id;
  });
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > 100_000) fail(`${what} is not a list`);
  return v;
}

function decodeEntry(v: unknown, what: string): Entry {
  const o = obj(v, what);
  const ver = nat(o['v'], `${what}.v`);
  if (ver !== ENTRY_FORMAT_VERSION) throw new RaftWireError(`raft entry format ${ver}, this build reads ${ENTRY_FORMAT_VERSION}: upgrade this node`);
  return { v: ver, term: nat(o['term'], `${what}.term`), index: nat(o['index'], `${what}.index`), kind: kind(o['kind'], `${what}.kind`), data: bytes(o['data'], `${what}.data`) };
}

function decodeConf(v: unknown): ConfState {
  const o = obj(v, 'snapshot.meta.conf');
  return { voters: ids(o['voters'], 'conf.voters'), learners: ids(o['learners'], 'conf.learners') };
}

function decodeSnapshot(v: unknown): Snapshot {
  const o = obj(v, 'snapshot');
  const meta = obj(o['meta'], 'snapshot.meta');
  return { meta: { index: nat(meta['index'], 'snapshot.meta.index'), term: nat(meta['term'], 'snapshot.meta.term'), conf: decodeConf(meta['conf']) }, data: bytes(o['data'], 'snapshot.data') };
}

/**
 * Decodes a message sent with wire version `version` by node `sender` (the
 * transport's word for who sent it: a message claiming another sender is
 * refused, so one node cannot speak for another).
 */
export function decodeRaftMessage(version: number, data: Uint8Array, sender: string): Message {
  if (version !== RAFT_WIRE_VERSION) {
    throw new RaftWireError(`raft wire version ${version} from ${sender}, this node speaks ${RAFT_WIRE_VERSION}: run the same ringstore version on every node (upgrade one node at a time within one wire version)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch {
    fail('not JSON');
  }
  const o = obj(raw, 'message');
  const base = { from: str(o['from'], 'from', 128), to: str(o['to'], 'to', 128), term: nat(o['term'], 'term') };
  if (base.from !== sender) fail(`from ${JSON.stringify(base.from)} but sent by ${JSON.stringify(sender)}`);
  if (base.from === '' || base.to === '') fail('empty from or to');
  switch (o['type']) {
    case 'app':
      return {
        ...base,
        type: 'app',
        index: nat(o['index'], 'index'),
        logTerm: nat(o['logTerm'], 'logTerm'),
        entries: list(o['entries'], 'entries').map((e, i) => decodeEntry(e, `entries[${i}]`)),
        commit: nat(o['commit'], 'commit'),
      };
    case 'appResp':
      return { ...base, type: 'appResp', index: nat(o['index'], 'index'), reject: bool(o['reject'], 'reject'), hintIndex: nat(o['hintIndex'], 'hintIndex'), hintTerm: nat(o['hintTerm'], 'hintTerm') };
    case 'vote':
    case 'preVote':
      return { ...base, type: o['type'], index: nat(o['index'], 'index'), logTerm: nat(o['logTerm'], 'logTerm'), transfer: bool(o['transfer'], 'transfer') };
    case 'voteResp':
    case 'preVoteResp':
      return { ...base, type: o['type'], reject: bool(o['reject'], 'reject') };
    case 'heartbeat':
      return { ...base, type: 'heartbeat', commit: nat(o['commit'], 'commit'), ctx: str(o['ctx'], 'ctx') };
    case 'heartbeatResp':
      return { ...base, type: 'heartbeatResp', ctx: str(o['ctx'], 'ctx') };
    case 'snap':
      return { ...base, type: 'snap', snapshot: decodeSnapshot(o['snapshot']) };
    case 'timeoutNow':
      return { ...base, type: 'timeoutNow' };
    case 'prop':
      return {
        ...base,
        type: 'prop',
        entries: list(o['entries'], 'entries').map((e, i) => {
          const x = obj(e, `entries[${i}]`);
          return { kind: kind(x['kind'], `entries[${i}].kind`), data: bytes(x['data'], `entries[${i}].data`) };
        }),
      };
    case 'readIndex':
      return { ...base, type: 'readIndex', ctx: str(o['ctx'], 'ctx') };
    case 'readIndexResp':
      return { ...base, type: 'readIndexResp', ctx: str(o['ctx'], 'ctx'), index: nat(o['index'], 'index') };
    default:
      return fail(`unknown type ${JSON.stringify(o['type'])}`);
  }
}
