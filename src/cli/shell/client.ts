// The one module through which the shell talks to the cluster: S3 for the
// data (listing, streaming upload and download, server-side copy, delete,
// buckets), the native JSON API for what only it shows (replicas, clocks,
// hints, the per-user index). Every request is signed with the access key
// (SigV4, UNSIGNED-PAYLOAD): S3 checks it today, and the native API will
// when it gains authentication, with no change here beyond the scheme.

import { createReadStream, createWriteStream, statSync } from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import { canonicalQuery, sign, signingKey, stringToSign, uriEncode } from '../../auth/sigv4.js';

export interface ShellEndpoints {
  /** Native API base URL of the node the shell talks to. */
  readonly http: string;
  /** S3 base URL of that node. */
  readonly s3: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Every node's id and native API URL, when known (cluster.json); else learned from /cluster/members. */
  readonly nodes?: readonly { readonly id: string; readonly http: string }[];
  /** For the admin routes the shell reads (/cluster/members); without it the shell uses the nodes it was given. */
  readonly adminToken?: string;
  readonly region?: string;
}

/** A failed request, as one line: what was asked, the status, the server's code and message. */
export class ClusterError extends Error {
  override name = 'ClusterError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ObjectEntry {
  readonly key: string;
  readonly size: number;
  readonly modified: string;
}

export interface Listing {
  readonly files: ObjectEntry[];
  /** Immediate subdirectories (with a delimiter): full prefixes ending in '/'. */
  readonly dirs: string[];
}

interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'Contents' || name === 'CommonPrefixes' || name === 'Bucket' });

/** Percent-encodes each segment of an object path as S3 wants it. */
export function encodeObjectPath(bucket: string | undefined, key: string | undefined): string {
  if (bucket === undefined) return '/';
  return '/' + uriEncode(bucket, false) + (key === undefined ? '' : '/' + uriEncode(key, true));
}

export class ShellClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private nodeList: { id: string; http: string }[] | undefined;

  constructor(readonly endpoints: ShellEndpoints) {
    this.nodeList = endpoints.nodes?.map((n) => ({ id: n.id, http: n.http }));
  }

  close(): void {
    this.agent.destroy();
  }

  // ------------------------------------------------------------ transport

  /** SigV4 headers for one request (header form, UNSIGNED-PAYLOAD). */
  private sign(method: string, url: URL, rawPath: string, params: [string, string][]): Record<string, string> {
    const region = this.endpoints.region ?? 'us-east-1';
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    const payload = 'UNSIGNED-PAYLOAD';
    const signed = 'host;x-amz-content-sha256;x-amz-date';
    const canonical = [method, rawPath, canonicalQuery(params), `host:${url.host}`, `x-amz-content-sha256:${payload}`, `x-amz-date:${amzDate}`, '', signed, payload].join('\n');
    const scope = `${date}/${region}/s3/aws4_request`;
    const signature = sign(signingKey(this.endpoints.secretKey, date, region, 's3'), stringToSign(amzDate, scope, canonical));
    return {
      'x-amz-date': amzDate,
      'x-amz-content-sha256': payload,
      authorization: `AWS4-HMAC-SHA256 Credential=${this.endpoints.accessKey}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
    };
  }

  /**
   * One signed request. `body` is sent as is (a stream is piped with its
   * length); `sink`, when given, receives a 2xx response body as it
   * arrives instead of it being collected.
   */
  private request(
    base: string,
    method: string,
    rawPath: string,
    opts: {
      params?: [string, string][];
      headers?: Record<string, string>;
      body?: Buffer | NodeJS.ReadableStream;
      length?: number;
      sink?: (res: http.IncomingMessage) => Promise<void>;
    } = {},
  ): Promise<Response> {
    const url = new URL(base);
    const params = opts.params ?? [];
    const query = params.map(([k, v]) => `${uriEncode(k, false)}=${uriEncode(v, false)}`).join('&');
    // An admin route carries its token instead of a signature.
    const headers: Record<string, string> = opts.headers?.['authorization'] !== undefined ? { ...opts.headers } : { ...opts.headers, ...this.sign(method, url, rawPath, params) };
    if (Buffer.isBuffer(opts.body)) headers['content-length'] = String(opts.body.length);
    else if (opts.length !== undefined) headers['content-length'] = String(opts.length);
    else if (method === 'PUT' || method === 'POST') headers['content-length'] = '0';
    return new Promise<Response>((resolve, reject) => {
      const req = http.request({ agent: this.agent, host: url.hostname, port: url.port, method, path: rawPath + (query ? `?${query}` : ''), headers }, (res) => {
        const status = res.statusCode ?? 0;
        if (opts.sink !== undefined && status >= 200 && status < 300) {
          opts.sink(res).then(() => resolve({ status, headers: res.headers, body: Buffer.alloc(0) }), reject);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', (err) => reject(new ClusterError(0, 'Unreachable', `cannot reach ${url.host}: ${err.message}`)));
      if (opts.body === undefined) req.end();
      else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
      else pipeline(opts.body, req).catch(reject);
    });
  }

  private s3(method: string, bucket: string | undefined, key: string | undefined, opts: Parameters<ShellClient['request']>[3] = {}): Promise<Response> {
    return this.request(this.endpoints.s3, method, encodeObjectPath(bucket, key), opts);
  }

  /** Turns an S3 error answer into one line: the code and message from its XML. */
  private static s3Error(what: string, r: Response): ClusterError {
    const text = r.body.toString('utf8');
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP${r.status}`;
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? (text.trim() || http.STATUS_CODES[r.status] || '');
    return new ClusterError(r.status, code, `${what}: ${code}: ${message}`);
  }

  private async s3Ok(what: string, method: string, bucket: string | undefined, key: string | undefined, opts: Parameters<ShellClient['request']>[3] = {}): Promise<Response> {
    const r = await this.s3(method, bucket, key, opts);
    if (r.status >= 300) throw ShellClient.s3Error(what, r);
    return r;
  }

  /** A native API call answering JSON; errors become one line with their code. */
  async native(method: string, path: string, opts: { params?: [string, string][]; base?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Record<string, unknown>> {
    const r = await this.request(opts.base ?? this.endpoints.http, method, path, {
      params: opts.params ?? [],
      headers: { accept: 'application/json', ...(path.startsWith('/cluster/') && this.endpoints.adminToken !== undefined ? { authorization: `Bearer ${this.endpoints.adminToken}` } : {}), ...opts.headers },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new ClusterError(r.status, `HTTP${r.status}`, `${method} ${path}: answered ${r.status} without JSON`);
    }
    if (r.status >= 300 || body['ok'] === false) {
      const e = (body['error'] ?? {}) as { code?: string; message?: string };
      throw new ClusterError(r.status, e.code ?? `HTTP${r.status}`, `${e.code ?? r.status}: ${e.message ?? JSON.stringify(body)}`);
    }
    return body;
  }

  // ------------------------------------------------------------ buckets

  async buckets(): Promise<{ name: string; created: string }[]> {
    const r = await this.s3Ok('list buckets', 'GET', undefined, undefined);
    const doc = xml.parse(r.body.toString('utf8')) as { ListAllMyBucketsResult?: { Buckets?: { Bucket?: { Name: string; CreationDate: string }[] } } };
    return (doc.ListAllMyBucketsResult?.Buckets?.Bucket ?? []).map((b) => ({ name: b.Name, created: b.CreationDate }));
  }

  async bucketExists(name: string): Promise<boolean> {
    const r = await this.s3('HEAD', name, undefined);
    if (r.status === 404) return false;
    if (r.status >= 300) throw new ClusterError(r.status, r.status === 403 ? 'AccessDenied' : `HTTP${r.status}`, `bucket ${name}: ${r.status === 403 ? 'belongs to another user' : `HTTP ${r.status}`}`);
    return true;
  }

  async createBucket(name: string): Promise<void> {
    await this.s3Ok(`create bucket ${name}`, 'PUT', name, undefined);
  }

  async deleteBucket(name: string): Promise<void> {
    await this.s3Ok(`delete bucket ${name}`, 'DELETE', name, undefined);
  }

  // ------------------------------------------------------------ listing

  /**
   * Keys under `prefix`: with `delimiter`, the immediate files and
   * subdirectories only; without, everything (paged by the server, 1000 at
   * a time), up to `max` entries.
   */
  async list(bucket: string, prefix: string, opts: { delimiter?: boolean; max?: number } = {}): Promise<Listing & { truncated: boolean }> {
    const files: ObjectEntry[] = [];
    const dirs: string[] = [];
    const max = opts.max ?? Infinity;
    let token: string | undefined;
    for (;;) {
      const params: [string, string][] = [
        ['list-type', '2'],
        ['prefix', prefix],
        ['max-keys', String(Math.min(1000, Math.max(1, max - files.length - dirs.length)))],
      ];
      if (opts.delimiter === true) params.push(['delimiter', '/']);
      if (token !== undefined) params.push(['continuation-token', token]);
      const r = await this.s3Ok(`list /${bucket}/${prefix}`, 'GET', bucket, undefined, { params });
      const doc = (xml.parse(r.body.toString('utf8')) as { ListBucketResult?: Record<string, unknown> }).ListBucketResult ?? {};
      for (const c of (doc['Contents'] as { Key: string; Size: string; LastModified: string }[] | undefined) ?? []) files.push({ key: c.Key, size: Number(c.Size), modified: c.LastModified });
      for (const p of (doc['CommonPrefixes'] as { Prefix: string }[] | undefined) ?? []) dirs.push(p.Prefix);
      const next = doc['NextContinuationToken'] as string | undefined;
      if (doc['IsTruncated'] !== 'true' || next === undefined) return { files, dirs, truncated: false };
      if (files.length + dirs.length >= max) return { files, dirs, truncated: true };
      token = next;
    }
  }

  /** Does anything live under `prefix` (a directory exists)? */
  async hasPrefix(bucket: string, prefix: string): Promise<boolean> {
    const r = await this.list(bucket, prefix, { max: 1 });
    return r.files.length > 0;
  }

  // ------------------------------------------------------------ objects

  /** Size and type of an object, or undefined when it does not exist. */
  async head(bucket: string, key: string): Promise<{ size: number; contentType: string; modified: string; etag: string } | undefined> {
    const r = await this.s3('HEAD', bucket, key);
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new ClusterError(r.status, `HTTP${r.status}`, `/${bucket}/${key}: ${r.status === 403 ? 'AccessDenied: belongs to another user' : `HTTP ${r.status}`}`);
    return {
      size: Number(r.headers['content-length'] ?? 0),
      contentType: String(r.headers['content-type'] ?? ''),
      modified: String(r.headers['last-modified'] ?? ''),
      etag: String(r.headers['etag'] ?? '').replace(/"/g, ''),
    };
  }

  async putBytes(bucket: string, key: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    await this.s3Ok(`write /${bucket}/${key}`, 'PUT', bucket, key, { body, headers: { 'content-type': contentType } });
  }

  async getBytes(bucket: string, key: string, limit = 64 * 1024 * 1024): Promise<Buffer> {
    const head = await this.head(bucket, key);
    if (head === undefined) throw new ClusterError(404, 'NoSuchKey', `/${bucket}/${key}: no such file`);
    if (head.size > limit) throw new ClusterError(413, 'TooLarge', `/${bucket}/${key} is ${head.size} bytes; use download`);
    return (await this.s3Ok(`read /${bucket}/${key}`, 'GET', bucket, key)).body;
  }

  /** Streams a local file up (one S3 PUT; the node cuts it into chunks as it arrives). */
  async upload(local: string, bucket: string, key: string, onProgress?: (sent: number, total: number) => void): Promise<number> {
    const total = statSync(local).size;
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        onProgress?.(sent, total);
        done(null, chunk);
      },
    });
    const source = createReadStream(local).pipe(counter);
    await this.s3Ok(`upload ${local}`, 'PUT', bucket, key, { body: source, length: total, headers: { 'content-type': 'application/octet-stream' } });
    return total;
  }

  /** Streams an object down into a local file. */
  async download(bucket: string, key: string, local: string, onProgress?: (got: number, total: number) => void): Promise<number> {
    let got = 0;
    await this.s3Ok(`download /${bucket}/${key}`, 'GET', bucket, key, {
      sink: async (res) => {
        const total = Number(res.headers['content-length'] ?? 0);
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            got += chunk.length;
            onProgress?.(got, total);
            done(null, chunk);
          },
        });
        await pipeline(res, counter, createWriteStream(local));
      },
    });
    return got;
  }

  /** Server-side copy: the new key shares the source's chunks, no data moves. */
  async copy(srcBucket: string, srcKey: string, dstBucket: string, dstKey: string): Promise<void> {
    await this.s3Ok(`copy /${srcBucket}/${srcKey}`, 'PUT', dstBucket, dstKey, { headers: { 'x-amz-copy-source': encodeObjectPath(srcBucket, srcKey) } });
  }

  async remove(bucket: string, key: string): Promise<void> {
    await this.s3Ok(`delete /${bucket}/${key}`, 'DELETE', bucket, key);
  }

  // ------------------------------------------------------------ native views

  /** Every node's id and native API URL. */
  async nodes(): Promise<{ id: string; http: string }[]> {
    if (this.nodeList === undefined) {
      const m = await this.native('GET', '/cluster/members');
      this.nodeList = (m['members'] as { id: string; http: string | null }[]).filter((x) => x.http !== null).map((x) => ({ id: x.id, http: x.http!.includes('://') ? x.http! : `http://${x.http}` }));
    }
    return this.nodeList;
  }

  forgetNodes(): void {
    this.nodeList = this.endpoints.nodes?.map((n) => ({ id: n.id, http: n.http }));
  }

  /** The native API's JSON read of a key: every replica's clock and every sibling (r = n when all answer). */
  async readJson(bucket: string, key: string, r?: number): Promise<Record<string, unknown>> {
    return this.native('GET', '/buckets' + encodeObjectPath(bucket, key), { params: r !== undefined ? [['r', String(r)]] : [] });
  }

  /** What one node stores itself for a key: its replica's dots and clock, and hints it holds for others. */
  async nodeKeys(nodeHttp: string, bucket: string, key: string): Promise<Record<string, unknown>> {
    const params: [string, string][] = [
      ['bucket', bucket],
      ['prefix', key],
      ['limit', '10'],
    ];
    return this.native('GET', '/cluster/keys', { params, base: nodeHttp });
  }

  /** Writes a value through the native API, whose answer shows the placement and every replica's clock. */
  async putNative(bucket: string, key: string, value: Buffer, contentType: string): Promise<Record<string, unknown>> {
    return this.native('PUT', '/buckets' + encodeObjectPath(bucket, key), { headers: { 'content-type': contentType }, body: value });
  }

  /** The bucket's record (owner, quorum, creation) from the native API. */
  async bucketInfo(bucket: string): Promise<Record<string, unknown>> {
    return this.native('GET', '/buckets' + encodeObjectPath(bucket, undefined), { params: [['limit', '1']] });
  }

  async userFiles(search?: string, limit = 1000): Promise<Record<string, unknown>> {
    const params: [string, string][] = [['limit', String(limit)]];
    if (search !== undefined) params.push(['search', search]);
    return this.native('GET', '/users/me/files', { params });
  }

  async health(base = this.endpoints.http): Promise<Record<string, unknown>> {
    return this.native('GET', '/health', { base });
  }
}
