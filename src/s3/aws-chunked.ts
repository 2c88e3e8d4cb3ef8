// Decoder for `Content-Encoding: aws-chunked` bodies, the streaming upload
// forms of SigV4:
//
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          <hex>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n\r\n
//   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  the same, then trailer lines and x-amz-trailer-signature
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER          <hex>\r\n<data>\r\n ... 0\r\n<trailer lines>\r\n
//
// Data passes through as it arrives (nothing is buffered beyond one framing
// line), so a chunk's signature is only known to be good at the chunk's end;
// the caller must not commit anything before the generator has finished.

import { createHash, type Hash } from 'node:crypto';
import { S3Error } from './errors.js';
import { EMPTY_SHA256, sameSignature, sign } from './sigv4.js';

export interface ChunkSigning {
  readonly signingKey: Buffer;
  readonly amzDate: string;
  readonly scope: string;
  /** The request's (seed) signature: the previous signature of the first chunk. */
  readonly seedSignature: string;
}

export interface AwsChunkedOptions {
  /** Present for the signed forms: every chunk signature is verified. */
  readonly signing?: ChunkSigning;
  /** A trailer section is expected after the last chunk. */
  readonly trailer: boolean;
}

const MAX_LINE_BYTES = 4096;
const MAX_TRAILER_LINES = 16;

export class AwsChunkedDecoder {
  /** Trailer headers (lower-case names), filled once decoding finished. */
  readonly trailers = new Map<string, string>();
  private prevSignature: string;

  constructor(private readonly opts: AwsChunkedOptions) {
    this.prevSignature = opts.signing?.seedSignature ?? '';
  }

  async *decode(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let pending: Buffer = Buffer.alloc(0);
    let state: 'header' | 'data' | 'crlf' | 'trailer' | 'done' = 'header';
    let remaining = 0;
    let chunkSig = '';
    let hash: Hash | undefined;
    let trailerLines = 0;
    let trailerText = '';
    let trailerSig: string | undefined;

    for await (const piece of source) {
      let buf: Buffer = pending.length > 0 ? Buffer.concat([pending, piece]) : piece;
      pending = Buffer.alloc(0);
      let off = 0;
      while (off < buf.length) {
        if (state === 'data') {
          const take = Math.min(remaining, buf.length - off);
          const out = buf.subarray(off, off + take);
          hash?.update(out);
          remaining -= take;
          off += take;
          if (out.length > 0) yield out;
          if (remaining === 0) state = 'crlf';
          continue;
        }
        if (state === 'crlf') {
          if (buf.length - off < 2) break;
          if (buf[off] !== 0x0d || buf[off + 1] !== 0x0a) throw new S3Error('IncompleteBody', 'aws-chunked: chunk data not followed by CRLF');
          off += 2;
          this.verifyChunk(chunkSig, hash);
          state = 'header';
          continue;
        }
        if (state === 'done') {
          // Tolerate trailing CRLFs; anything else is garbage after the body.
          if (buf[off] === 0x0d || buf[off] === 0x0a) {
            off++;
            continue;
          }
          throw new S3Error('IncompleteBody', 'aws-chunked: data after the final chunk');
        }
        const nl = buf.indexOf('\r\n', off);
        if (nl < 0) {
          if (buf.length - off > MAX_LINE_BYTES) throw new S3Error('IncompleteBody', 'aws-chunked: framing line too long');
          break;
        }
        const line = buf.toString('latin1', off, nl);
        off = nl + 2;
        if (state === 'header') {
          const semi = line.indexOf(';');
          const sizeHex = semi < 0 ? line : line.slice(0, semi);
          if (!/^[0-9a-fA-F]{1,12}$/.test(sizeHex)) throw new S3Error('IncompleteBody', `aws-chunked: bad chunk size line ${JSON.stringify(line.slice(0, 64))}`);
          const size = parseInt(sizeHex, 16);
          chunkSig = '';
          if (semi >= 0) {
            const m = /chunk-signature=([0-9a-f]{64})/.exec(line.slice(semi + 1));
            if (m !== null) chunkSig = m[1]!;
          }
          if (this.opts.signing !== undefined && chunkSig === '') throw new S3Error('SignatureDoesNotMatch', 'aws-chunked: missing chunk-signature');
          hash = this.opts.signing !== undefined ? createHash('sha256') : undefined;
          if (size === 0) {
            this.verifyChunk(chunkSig, hash);
            state = 'trailer';
          } else {
            remaining = size;
            state = 'data';
          }
          continue;
        }
        // state === 'trailer'
        if (line === '') {
          this.finishTrailer(trailerText, trailerSig);
          state = 'done';
          continue;
        }
        if (++trailerLines > MAX_TRAILER_LINES) throw new S3Error('IncompleteBody', 'aws-chunked: too many trailer lines');
        const colon = line.indexOf(':');
        if (colon <= 0) throw new S3Error('IncompleteBody', 'aws-chunked: malformed trailer line');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'x-amz-trailer-signature') trailerSig = value;
        else {
          this.trailers.set(name, value);
          trailerText += `${name}:${value}\n`;
        }
      }
      if (off < buf.length) pending = Buffer.from(buf.subarray(off));
      buf = Buffer.alloc(0);
    }
    if (state === 'trailer' && pending.length === 0) {
      // Some clients end the body right after the last trailer line.
      this.finishTrailer(trailerText, trailerSig);
      state = 'done';
    }
    if (state !== 'done') throw new S3Error('IncompleteBody', 'aws-chunked: the body ended before the final chunk');
  }

  private verifyChunk(sig: string, hash: Hash | undefined): void {
    const s = this.opts.signing;
    if (s === undefined || hash === undefined) return;
    const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${this.prevSignature}\n${EMPTY_SHA256}\n${hash.digest('hex')}`;
    const expected = sign(s.signingKey, toSign);
    if (!sameSignature(expected, sig)) throw new S3Error('SignatureDoesNotMatch', 'aws-chunked: a chunk signature does not match');
    this.prevSignature = expected;
  }

  private finishTrailer(text: string, sig: string | undefined): void {
    const s = this.opts.signing;
    if (s === undefined || !this.opts.trailer) return;
    if (sig === undefined) throw new S3Error('SignatureDoesNotMatch', 'aws-chunked: missing x-amz-trailer-signature');
    const digest = createHash('sha256').update(text).digest('hex');
    const expected = sign(s.signingKey, `AWS4-HMAC-SHA256-TRAILER\n${s.amzDate}\n${s.scope}\n${this.prevSignature}\n${digest}`);
    if (!sameSignature(expected, sig)) throw new S3Error('SignatureDoesNotMatch', 'aws-chunked: the trailer signature does not match');
  }
}
