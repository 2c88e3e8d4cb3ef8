// Reading a request body as the signature and the checksum headers say it
// must be: plain or aws-chunked, counted against Content-Length and
// x-amz-decoded-content-length, with its MD5 (the ETag), its SHA-256 when the
// signature covers the payload, and the x-amz-checksum-* the client declared
// (in a header or a trailer) computed while the bytes pass through. Nothing
// is buffered here: the caller consumes pieces as they arrive and calls
// `verify()` before committing anything.

import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AwsChunkedDecoder } from './aws-chunked.js';
import { CHECKSUM_ALGORITHMS, DIGEST_BYTES, isChecksumAlgorithm, newChecksummer, type ChecksumAlgorithm, type Checksummer } from './checksum.js';
import { S3Error } from './errors.js';
import { ChunkHasher, HASH_OFFLOAD_MIN, type BodyDigests } from './hash-worker.js';
import { STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD, type AuthResult } from './sigv4.js';

/** S3's single-PUT limit. */
export const MAX_PUT_BYTES = 5 * 1024 ** 3;

export interface DeclaredChecksum {
  readonly algo: ChecksumAlgorithm;
  /** base64; undefined until a trailer delivers it. */
  value: string | undefined;
  readonly inTrailer: boolean;
}

export class BodyReader {
  /** Decoded bytes seen so far. */
  size = 0;
  readonly declaredLength: number | undefined;
  readonly checksum: DeclaredChecksum | undefined;
  private readonly md5: Hash = createHash('md5');
  private readonly sha256: Hash | undefined;
  private readonly summer: Checksummer | undefined;
  private readonly decoder: AwsChunkedDecoder | undefined;
  private readonly contentMd5: string | undefined;
  private finished = false;
  private md5Hex = '';
  private computed: string | undefined;
  /** Set by offloadHashes(): the MD5 and payload SHA-256 are the worker's, not pieces()'s. */
  private hasher: ChunkHasher | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly auth: AuthResult,
    private readonly maxBytes: number = MAX_PUT_BYTES,
    /** false when x-amz-checksum-* headers describe something else than this body (CompleteMultipartUpload: the object). */
    checksumHeaders = true,
  ) {
    const h = req.headers;
    const mode = auth.payloadHash;
    const streaming = mode === STREAMING_SIGNED || mode === STREAMING_SIGNED_TRAILER || mode === STREAMING_UNSIGNED_TRAILER;
    if (mode.startsWith('STREAMING-') && !streaming) throw new S3Error('InvalidArgument', `unsupported x-amz-content-sha256 ${mode}`);
    if (streaming) {
      this.decoder = new AwsChunkedDecoder({
        trailer: mode !== STREAMING_SIGNED,
        signing: mode === STREAMING_UNSIGNED_TRAILER ? undefined : { signingKey: auth.signingKey, amzDate: auth.amzDate, scope: auth.scope, seedSignature: auth.signature },
      });
      const decoded = h['x-amz-decoded-content-length'];
      if (decoded === undefined && mode !== STREAMING_UNSIGNED_TRAILER) throw new S3Error('MissingContentLength', 'x-amz-decoded-content-length is required with aws-chunked uploads');
      this.declaredLength = decoded === undefined ? undefined : parseLength(String(decoded));
    } else {
      // Content-Encoding: aws-chunked without a STREAMING-* payload hash is a plain body (S3 drops the token).
      const len = h['content-length'];
      this.declaredLength = len === undefined ? undefined : parseLength(String(len));
      if (this.declaredLength === undefined && h['transfer-encoding'] === undefined && req.method === 'PUT') {
        throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
      }
    }
    if (this.declaredLength !== undefined && this.declaredLength > maxBytes) {
      throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${maxBytes} bytes`);
    }
    if (/^[0-9a-f]{64}$/.test(mode)) this.sha256 = createHash('sha256');
    void UNSIGNED_PAYLOAD;

    const md5 = h['content-md5'];
    if (md5 !== undefined) {
      const v = String(md5);
      if (Buffer.from(v, 'base64').length !== 16) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.');
      this.contentMd5 = v;
    }
    this.checksum = declaredChecksum(req, checksumHeaders);
    if (this.checksum !== undefined) this.summer = newChecksummer(this.checksum.algo);
  }

  /** Decoded body pieces, in order, as they arrive. */
  async *pieces(): AsyncGenerator<Buffer> {
    const source: AsyncIterable<Buffer> = this.req;
    const data = this.decoder !== undefined ? this.decoder.decode(source) : source;
    for await (const piece of data) {
      this.size += piece.length;
      if (this.size > this.maxBytes) throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${this.maxBytes} bytes`);
      if (this.declaredLength !== undefined && this.size > this.declaredLength) throw new S3Error('IncompleteBody', 'the body is longer than its declared length');
      if (this.hasher === undefined) {
        this.md5.update(piece);
        this.sha256?.update(piece);
      }
      this.summer?.update(piece);
      yield piece;
    }
    this.finished = true;
  }

  /**
   * For a large body (HASH_OFFLOAD_MIN or more, or of unknown length): a
   * hasher that computes its MD5 and, for a signed payload, its SHA-256 on a
   * worker thread (hash-worker.ts), chunk by chunk as the caller passes the
   * decoded bytes on; pieces() then leaves those two digests alone, and
   * verify() must be given the hasher's result. Undefined for a small body
   * (hashed here, as before). Call before reading.
   */
  offloadHashes(): ChunkHasher | undefined {
    if (this.size > 0 || this.finished) throw new Error('BodyReader.offloadHashes after reading began');
    if (this.declaredLength !== undefined && this.declaredLength < HASH_OFFLOAD_MIN) return undefined;
    this.hasher = new ChunkHasher(this.sha256 !== undefined);
    return this.hasher;
  }

  /**
   * The SHA-256 hex of the whole decoded body, when the signature made us
   * compute it (a signed payload) and the body has been read; undefined
   * otherwise. Not checked against the signature yet: verify() does that.
   */
  bodySha256(): string | undefined {
    return this.finished && this.sha256 !== undefined && this.hasher === undefined && this.md5Hex === '' ? this.sha256.copy().digest('hex') : undefined;
  }

  /** Whether readInline can read this body: a plain (not aws-chunked) body whose Content-Length is at most `max`. */
  fitsInline(max: number): boolean {
    return this.decoder === undefined && this.declaredLength !== undefined && this.declaredLength <= max;
  }

  /**
   * The whole body of a small plain request (fitsInline), read through
   * 'data' events and hashed once: the same result as collecting pieces(),
   * without an async iterator, its stream listeners and a copy per request
   * (a small PUT's body is one socket read).
   */
  readInline(): Promise<Buffer> {
    if (this.decoder !== undefined) return Promise.reject(new Error('BodyReader.readInline on an aws-chunked body'));
    const req = this.req;
    return new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let settled = false;
      const done = (err: unknown, body?: Buffer): void => {
        if (settled) return;
        settled = true;
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
        if (err !== undefined) reject(err);
        else resolve(body!);
      };
      const onData = (piece: Buffer): void => {
        size += piece.length;
        if (size > this.maxBytes) {
          req.pause();
          done(new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${this.maxBytes} bytes`));
        } else if (this.declaredLength !== undefined && size > this.declaredLength) {
          req.pause();
          done(new S3Error('IncompleteBody', 'the body is longer than its declared length'));
        } else {
          parts.push(piece);
        }
      };
      const onEnd = (): void => {
        const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
        this.size = body.length;
        this.md5.update(body);
        this.sha256?.update(body);
        this.summer?.update(body);
        this.finished = true;
        done(undefined, body);
      };
      const onError = (err: Error): void => done(err);
      // Closed before 'end': the client went away (the server's handler treats ECONNRESET on a destroyed request as such).
      const onClose = (): void => done(Object.assign(new Error('request closed before its body ended'), { code: 'ECONNRESET' }));
      // Already gone (the client left while the request was being authorised): no event will come.
      if (req.destroyed) return onClose();
      if (req.readableEnded) return done(new Error('BodyReader.readInline: the body was already read'));
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
  }

  /**
   * Checks lengths, payload hash and checksums; call after `pieces()` is
   * exhausted, with the hasher's digests when offloadHashes() gave one.
   * Returns the MD5 hex.
   */
  verify(offloaded?: BodyDigests): { md5Hex: string; checksum?: { algo: ChecksumAlgorithm; value: string } } {
    if (!this.finished) throw new Error('BodyReader.verify before the body was read');
    if ((this.hasher !== undefined) !== (offloaded !== undefined)) throw new Error('BodyReader.verify: digests must come from the hasher exactly when offloadHashes() gave one');
    if (this.md5Hex === '') {
      if (this.declaredLength !== undefined && this.size !== this.declaredLength) {
        throw new S3Error('IncompleteBody', `You did not provide the number of bytes specified by the Content-Length HTTP header (${this.size} of ${this.declaredLength})`);
      }
      if (this.sha256 !== undefined && (offloaded !== undefined ? offloaded.sha256Hex : this.sha256.digest('hex')) !== this.auth.payloadHash) {
        throw new S3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
      }
      const md5 = offloaded !== undefined ? Buffer.from(offloaded.md5Hex, 'hex') : this.md5.digest();
      if (this.contentMd5 !== undefined && md5.toString('base64') !== this.contentMd5) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
      this.md5Hex = md5.toString('hex');
      if (this.checksum !== undefined && this.summer !== undefined) {
        if (this.checksum.inTrailer) {
          const v = this.decoder?.trailers.get(`x-amz-checksum-${this.checksum.algo}`);
          if (v === undefined) throw new S3Error('InvalidRequest', `the trailer x-amz-checksum-${this.checksum.algo} was announced but not sent`);
          this.checksum.value = v;
        }
        this.computed = this.summer.digest();
        if (this.checksum.value !== undefined && this.checksum.value !== this.computed) {
          throw new S3Error('BadDigest', `The ${this.checksum.algo.toUpperCase()} you specified did not match the calculated checksum.`);
        }
      }
    }
    return this.computed !== undefined && this.checksum !== undefined ? { md5Hex: this.md5Hex, checksum: { algo: this.checksum.algo, value: this.computed } } : { md5Hex: this.md5Hex };
  }

  /** Reads the whole (small) body into memory, verified. */
  async readAll(limit: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const p of this.pieces()) {
      n += p.length;
      if (n > limit) throw new S3Error('MalformedXML', `request body larger than ${limit} bytes`);
      parts.push(p);
    }
    this.verify();
    return Buffer.concat(parts);
  }
}

function parseLength(s: string): number {
  if (!/^\d{1,15}$/.test(s)) throw new S3Error('InvalidArgument', `invalid length ${JSON.stringify(s.slice(0, 32))}`);
  return Number(s);
}

/** The x-amz-checksum-* the client declared, from a header or an announced trailer. */
export function declaredChecksum(req: IncomingMessage, headers = true): DeclaredChecksum | undefined {
  const h = req.headers;
  const found: DeclaredChecksum[] = [];
  for (const algo of headers ? CHECKSUM_ALGORITHMS : []) {
    const v = h[`x-amz-checksum-${algo}`];
    if (v !== undefined) {
      const value = String(v);
      if (Buffer.from(value, 'base64').length !== DIGEST_BYTES[algo]) throw new S3Error('BadDigest', `Value for x-amz-checksum-${algo} header is invalid.`);
      found.push({ algo, value, inTrailer: false });
    }
  }
  const trailer = h['x-amz-trailer'];
  if (trailer !== undefined) {
    for (const name of String(trailer).split(',').map((s) => s.trim().toLowerCase())) {
      const algo = name.replace(/^x-amz-checksum-/, '');
      if (!name.startsWith('x-amz-checksum-') || !isChecksumAlgorithm(algo)) throw new S3Error('InvalidRequest', `unsupported trailer ${name}`);
      found.push({ algo, value: undefined, inTrailer: true });
    }
  }
  if (found.length > 1) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  if (found.length === 1) return found[0];
  const sdkAlgo = h['x-amz-sdk-checksum-algorithm'];
  if (sdkAlgo !== undefined) {
    const algo = String(sdkAlgo).toLowerCase();
    if (!isChecksumAlgorithm(algo)) throw new S3Error('InvalidRequest', `unsupported checksum algorithm ${String(sdkAlgo)}`);
    return { algo, value: undefined, inTrailer: false };
  }
  return undefined;
}
