// A TypeScript client of the public gRPC file API (proto/files/v1/files.proto),
// with @grpc/grpc-js and @grpc/proto-loader; every call is signed as
// docs/grpc-files.md says (auth.ts signCall). Uploads and downloads stream
// with backpressure, 1 MiB per message.
//
//   const files = new FilesClient({ address: '127.0.0.1:9301', accessKey, secretKey });
//   await files.upload('docs', 'report.pdf', createReadStream('report.pdf'));
//   for await (const piece of (await files.download('docs', 'report.pdf')).data) out.write(piece);

import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { signCall, type AccessCredentials } from './auth.js';
import {
  fileServiceDefinition,
  MAX_MESSAGE_BYTES,
  MESSAGE_CHUNK,
  methodPath,
  type DownloadResponseMsg,
  type FileInfoMsg,
  type ListResponseMsg,
  type StatResponseMsg,
  type UploadResponseMsg,
} from './messages.js';

export type { FileInfoMsg, ListResponseMsg, StatResponseMsg, UploadResponseMsg } from './messages.js';

export interface FilesClientOptions extends AccessCredentials {
  /** host:port of a node's file API (cluster.json `files_grpc`). */
  readonly address: string;
  /**
   * Connect with TLS (a node with tlsCert/tlsKey serves it), verifying the
   * node's certificate against `ca` (PEM), or against the system's roots
   * when `ca` is left out.
   */
  readonly tls?: { readonly ca?: Buffer };
}

export interface UploadOptions {
  readonly contentType?: string;
  /** Upload: replace an existing file instead of failing with ALREADY_EXISTS. */
  readonly overwrite?: boolean;
  /** Called with the bytes sent so far. */
  readonly onProgress?: (sent: number) => void;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

interface RawClient extends grpc.Client {
  Upload(md: grpc.Metadata, cb: Callback<UploadResponseMsg>): grpc.ClientWritableStream<unknown>;
  Update(md: grpc.Metadata, cb: Callback<UploadResponseMsg>): grpc.ClientWritableStream<unknown>;
  Download(req: unknown, md: grpc.Metadata): grpc.ClientReadableStream<DownloadResponseMsg>;
  Stat(req: unknown, md: grpc.Metadata, cb: Callback<StatResponseMsg>): void;
  List(req: unknown, md: grpc.Metadata, cb: Callback<ListResponseMsg>): void;
  Search(req: unknown, md: grpc.Metadata, cb: Callback<ListResponseMsg>): void;
  Delete(req: unknown, md: grpc.Metadata, cb: Callback<{ deleted: boolean }>): void;
}

export class FilesClient {
  private readonly raw: RawClient;

  constructor(private readonly opts: FilesClientOptions) {
    const Ctor = fileServiceDefinition();
    const creds = opts.tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(opts.tls.ca ?? null);
    this.raw = new Ctor(opts.address, creds, {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    }) as unknown as RawClient;
  }

  private metadata(method: string): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(signCall(this.opts, methodPath(method)))) md.set(k, v);
    return md;
  }

  private unary<T>(method: 'Stat' | 'List' | 'Search' | 'Delete', req: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      (this.raw[method] as (r: unknown, md: grpc.Metadata, cb: Callback<T>) => void).call(this.raw, req, this.metadata(method), (err, v) => (err !== null ? reject(err) : resolve(v as T)));
    });
  }

  /** Stores a new file (ALREADY_EXISTS if it exists, unless overwrite). */
  upload(bucket: string, key: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: UploadOptions = {}): Promise<UploadResponseMsg> {
    return this.send('Upload', bucket, key, data, opts);
  }

  /** Replaces an existing file with a new version (NOT_FOUND if it does not exist). */
  update(bucket: string, key: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: Omit<UploadOptions, 'overwrite'> = {}): Promise<UploadResponseMsg> {
    return this.send('Update', bucket, key, data, opts);
  }

  private async send(method: 'Upload' | 'Update', bucket: string, key: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: UploadOptions): Promise<UploadResponseMsg> {
    let call!: grpc.ClientWritableStream<unknown>;
    const answer = new Promise<UploadResponseMsg>((resolve, reject) => {
      call = this.raw[method](this.metadata(method), (err, v) => (err !== null ? reject(err) : resolve(v!)));
    });
    // Awaited at the end; meanwhile a refusal stops the sending.
    let failed = false;
    answer.catch(() => {
      failed = true;
    });
    const write = async (msg: unknown): Promise<void> => {
      if (!call.write(msg)) await Promise.race([once(call, 'drain'), answer.then(() => undefined, () => undefined)]);
    };
    await write({ header: { bucket, key, content_type: opts.contentType ?? '', overwrite: opts.overwrite ?? false } });
    let sent = 0;
    for await (const piece of data) {
      if (failed) break;
      for (let o = 0; o < piece.length; o += MESSAGE_CHUNK) {
        const chunk = piece.subarray(o, Math.min(piece.length, o + MESSAGE_CHUNK));
        await write({ chunk: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) });
        sent += chunk.length;
        opts.onProgress?.(sent);
      }
    }
    call.end();
    return answer;
  }

  /** The file's info, then its bytes (or the range [offset, offset + length)). */
  async download(bucket: string, key: string, range: { offset?: number; length?: number } = {}): Promise<{ info: FileInfoMsg; data: AsyncIterable<Buffer> }> {
    const call = this.raw.Download({ bucket, key, offset: range.offset ?? 0, length: range.length ?? 0 }, this.metadata('Download'));
    const it = call[Symbol.asyncIterator]() as AsyncIterator<DownloadResponseMsg>;
    const first = await it.next();
    if (first.done === true || first.value.part !== 'info') {
      call.cancel();
      throw new Error('the server sent no file info');
    }
    const info = (first.value as { info: FileInfoMsg }).info;
    async function* data(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          const m = await it.next();
          if (m.done === true) return;
          if (m.value.part === 'chunk') yield (m.value as { chunk: Buffer }).chunk;
        }
      } finally {
        call.cancel();
      }
    }
    return { info, data: data() };
  }

  stat(bucket: string, key: string): Promise<StatResponseMsg> {
    return this.unary('Stat', { bucket, key });
  }

  /** The caller's files (no bucket) or one bucket's, under a prefix, a page at a time. */
  list(opts: { bucket?: string; prefix?: string; limit?: number; pageToken?: string } = {}): Promise<ListResponseMsg> {
    return this.unary('List', { bucket: opts.bucket ?? '', prefix: opts.prefix ?? '', limit: opts.limit ?? 0, page_token: opts.pageToken ?? '' });
  }

  search(query: string, limit = 0): Promise<ListResponseMsg> {
    return this.unary('Search', { query, limit });
  }

  delete(bucket: string, key: string): Promise<{ deleted: boolean }> {
    return this.unary('Delete', { bucket, key });
  }

  close(): void {
    this.raw.close();
  }
}
