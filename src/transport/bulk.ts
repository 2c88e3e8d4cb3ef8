// The bulk lane: one TLS connection per peer (bulk-tls.ts, node-tls.ts) for the messages that
// carry big values (4 MiB chunks), beside the gRPC stream that carries
// everything else.
//
// Why: through gRPC a 4 MiB value is copied into a new buffer by protobuf,
// copied again into a new framed buffer by grpc-js, and on the receiving
// side arrives in 64 KiB pieces that grpc-js concatenates into yet another
// new buffer. Measured on the dev VM, that is ~1.8 ms of CPU per MB on each
// side, and the multi-MiB garbage made V8 run a full GC every ~100 ms; a
// plain socket costs ~0.2 ms per MB. Here a big value is written to the
// socket as it is, and read into a buffer of its exact size (the client end
// through `onread`; the accepting end copies each decrypted chunk once,
// bulk-tls.ts feedFrames).
//
// A frame is one Envelope (protobuf, as on the stream) with its big values
// moved out as attachments:
//
//   u32 header length H | u32 attachment count N | N x u32 attachment length
//   | H bytes: the Envelope, each moved value replaced by `value_attached` = its
//     1-based attachment number | the N attachments, back to back
//
// A connection starts with a hello from the client: the magic "RSB1", a
// u16 length and the client's node id (UTF-8). Requests flow client to
// server, answers back on the same connection, matched by Envelope id. The
// server's port is announced in the gRPC stream's response headers
// (ringstore-bulk), so no configuration names it.

import type net from 'node:net';

import type { Envelope, Envelope__Output } from './codec.js';
import { decodeEnvelope, encodeEnvelope } from './codec.js';
import { DEFAULT_MAX_MESSAGE } from './grpc-wire.js';

/** Values at least this big travel as attachments. */
export const ATTACH_MIN_BYTES = 64 * 1024;
const MAGIC = 0x52534231; // "RSB1"
/** The longest node id a hello may carry (UTF-8 bytes). */
const MAX_HELLO_ID_BYTES = 256;

/** A frame whose declared sizes break the limits; the connection is dropped before anything is allocated for it. */
export class BulkFrameError extends Error {
  override name = 'BulkFrameError';
}

/**
 * What one frame may declare (issue 11 §5: bounded before any buffer is
 * allocated): the header plus every attachment at most `maxFrameBytes` (the
 * transport's message limit), every attachment at least ATTACH_MIN_BYTES
 * (smaller values stay in the header: writeFrame never detaches them), so
 * at most maxFrameBytes / ATTACH_MIN_BYTES attachments.
 */
export function frameProblem(maxFrameBytes: number, headerLength: number, count: number, lengths?: readonly number[]): string | undefined {
  if (headerLength > maxFrameBytes) return `header of ${headerLength} bytes (limit ${maxFrameBytes})`;
  const maxCount = Math.floor(maxFrameBytes / ATTACH_MIN_BYTES);
  if (count > maxCount) return `${count} attachments (limit ${maxCount})`;
  if (lengths === undefined) return undefined;
  let total = headerLength;
  for (const len of lengths) {
    if (len < ATTACH_MIN_BYTES) return `attachment of ${len} bytes (at least ${ATTACH_MIN_BYTES})`;
    total += len;
  }
  if (total > maxFrameBytes) return `frame of ${total} bytes (limit ${maxFrameBytes})`;
  return undefined;
}

/**
 * Moves the big `value` fields of an envelope (Sibling.value,
 * PutOriginReq.value: the only `bytes value` fields in the protocol) out as
 * attachments, marking each with its attachment number. Mutates `env`,
 * which must be fresh from toEnvelope (whose objects are its own).
 */
export function detachValues(env: Envelope): Uint8Array[] {
  const out: Uint8Array[] = [];
  forEachValueHolder(env, (rec) => {
    const v = rec['value'];
    if (v instanceof Uint8Array && v.byteLength >= ATTACH_MIN_BYTES) {
      out.push(v);
      rec['value'] = undefined;
      rec['value_attached'] = out.length;
    }
  });
  return out;
}

/** Puts attachments back where detachValues took them from. Throws on a bad attachment number. */
export function attachValues(env: Envelope__Output, values: readonly Buffer[]): void {
  forEachValueHolder(env, (rec) => {
    const n = rec['value_attached'];
    if (typeof n === 'number' && n > 0) {
      const v = values[n - 1];
      if (v === undefined) throw new Error(`attachment ${n} of ${values.length} missing`);
      rec['value'] = v;
    }
  });
}

/** Calls `fn` on every message object inside `o` (depth first), never descending into a `value`. */
function forEachValueHolder(o: unknown, fn: (rec: Record<string, unknown>) => void): void {
  if (o === null || typeof o !== 'object' || ArrayBuffer.isView(o)) return;
  if (Array.isArray(o)) {
    for (const x of o) forEachValueHolder(x, fn);
    return;
  }
  const rec = o as Record<string, unknown>;
  fn(rec);
  for (const k in rec) if (k !== 'value') forEachValueHolder(rec[k], fn);
}

/** Writes one frame; returns false when the socket wants the caller to wait for 'drain'. */
export function writeFrame(sock: net.Socket, env: Envelope): boolean {
  const values = detachValues(env);
  const header = encodeEnvelope(env);
  const prefix = Buffer.allocUnsafe(8 + 4 * values.length);
  prefix.writeUInt32BE(header.length, 0);
  prefix.writeUInt32BE(values.length, 4);
  values.forEach((v, i) => prefix.writeUInt32BE(v.byteLength, 8 + 4 * i));
  sock.cork();
  // Corked: prefix, header and values leave in one writev, without gluing them into a copy.
  let ok = sock.write(prefix);
  ok = sock.write(header) && ok;
  for (const v of values) ok = sock.write(v) && ok;
  sock.uncork();
  return ok;
}

export function helloBytes(from: string): Buffer {
  const id = Buffer.from(from, 'utf8');
  const b = Buffer.allocUnsafe(6 + id.length);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt16BE(id.length, 4);
  id.copy(b, 6);
  return b;
}

/**
 * Parses the byte stream of one connection into envelopes. Used as a
 * socket's `onread`: `buffer()` says where the next read should land
 * (straight into the attachment being received when there is one, else a
 * scratch buffer), `read(n)` takes the n bytes that arrived there.
 */
export class FrameReader {
  private readonly scratch = Buffer.allocUnsafe(64 * 1024);
  private readonly prefix = Buffer.allocUnsafe(8);
  private direct = false;
  private broken = false;
  // Small parts (hello, prefix, lengths, header) gather here.
  private part: Buffer;
  private partFill = 0;
  private state: 'hello' | 'helloId' | 'prefix' | 'lengths' | 'header' | 'attachments' = 'prefix';
  private headerLength = 0;
  private lengths: number[] = [];
  private header: Buffer | undefined;
  // Attachments received so far; the one being received is allocated only
  // when its first byte is due, so a frame that stops short holds no more
  // than what arrived plus one attachment.
  private attachments: Buffer[] = [];
  private current = 0;
  private currentFill = 0;

  constructor(
    private readonly onEnvelope: (env: Envelope__Output) => void,
    private readonly onHello?: (from: string) => void,
    private readonly maxFrameBytes: number = DEFAULT_MAX_MESSAGE,
  ) {
    if (onHello !== undefined) this.state = 'hello';
    this.part = onHello !== undefined ? Buffer.allocUnsafe(6) : this.prefix;
  }

  buffer(): Buffer {
    // After a malformed frame (read threw) the connection is being closed: land what still arrives in scratch.
    if (this.broken || this.current >= this.lengths.length) {
      this.direct = false;
      return this.scratch;
    }
    if (this.state === 'attachments') {
      const target = this.currentAttachment();
      this.direct = true;
      return target.subarray(this.currentFill);
    }
    this.direct = false;
    return this.scratch;
  }

  /** Takes n bytes read into the last buffer(); throws on a malformed stream (the caller drops the connection). */
  read(n: number): void {
    if (this.broken) throw new BulkFrameError('bulk connection already failed');
    try {
      this.readInto(n);
    } catch (err) {
      this.broken = true;
      throw err;
    }
  }

  private readInto(n: number): void {
    if (this.direct) {
      this.currentFill += n;
      this.afterAttachmentBytes();
      return;
    }
    let i = 0;
    while (i < n) {
      if (this.state === 'attachments') {
        const target = this.currentAttachment();
        const take = Math.min(target.length - this.currentFill, n - i);
        this.scratch.copy(target, this.currentFill, i, i + take);
        this.currentFill += take;
        i += take;
        this.afterAttachmentBytes();
        continue;
      }
      const take = Math.min(this.part.length - this.partFill, n - i);
      this.scratch.copy(this.part, this.partFill, i, i + take);
      this.partFill += take;
      i += take;
      if (this.partFill === this.part.length) this.partDone();
    }
  }

  private expect(state: FrameReader['state'], bytes: number): void {
    this.state = state;
    this.part = state === 'prefix' ? this.prefix : Buffer.allocUnsafe(bytes);
    this.partFill = 0;
    if (bytes === 0) this.partDone();
  }

  private partDone(): void {
    const p = this.part;
    switch (this.state) {
      case 'hello': {
        if (p.readUInt32BE(0) !== MAGIC) throw new BulkFrameError('not a ringstore bulk connection');
        const idBytes = p.readUInt16BE(4);
        if (idBytes === 0 || idBytes > MAX_HELLO_ID_BYTES) throw new BulkFrameError(`hello with a node id of ${idBytes} bytes (1..${MAX_HELLO_ID_BYTES})`);
        this.expect('helloId', idBytes);
        return;
      }
      case 'helloId':
        this.onHello?.(p.toString('utf8'));
        this.expect('prefix', 8);
        return;
      case 'prefix': {
        this.headerLength = p.readUInt32BE(0);
        const count = p.readUInt32BE(4);
        const problem = frameProblem(this.maxFrameBytes, this.headerLength, count);
        if (problem !== undefined) throw new BulkFrameError(`bulk frame refused: ${problem}`);
        this.lengths = [];
        this.expect('lengths', 4 * count);
        return;
      }
      case 'lengths':
        for (let o = 0; o < p.length; o += 4) this.lengths.push(p.readUInt32BE(o));
        {
          const problem = frameProblem(this.maxFrameBytes, this.headerLength, this.lengths.length, this.lengths);
          if (problem !== undefined) throw new BulkFrameError(`bulk frame refused: ${problem}`);
        }
        this.expect('header', this.headerLength);
        return;
      case 'header':
        this.header = p;
        this.attachments = [];
        this.current = 0;
        this.currentFill = 0;
        this.state = 'attachments';
        this.afterAttachmentBytes();
        return;
      default:
        return;
    }
  }

  /** The attachment being received, allocated (at its declared, already bounded size) when first needed. */
  private currentAttachment(): Buffer {
    if (this.attachments.length === this.current) this.attachments.push(Buffer.allocUnsafe(this.lengths[this.current]!));
    return this.attachments[this.current]!;
  }

  private afterAttachmentBytes(): void {
    while (this.current < this.lengths.length && this.currentFill === this.lengths[this.current]) {
      this.currentAttachment();
      this.current++;
      this.currentFill = 0;
    }
    if (this.current < this.lengths.length) return;
    const env = decodeEnvelope(this.header!);
    attachValues(env, this.attachments);
    this.header = undefined;
    this.attachments = [];
    this.lengths = [];
    this.expect('prefix', 8);
    this.onEnvelope(env);
  }
}
