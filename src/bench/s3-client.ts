// A minimal S3 client for the benchmark: SigV4 header signing with
// UNSIGNED-PAYLOAD (what a client that trusts TLS/loopback sends, and the
// cheapest form for the server too), path-style addressing, keep-alive
// connections. Not a general client: just enough to put, get and create
// buckets with the signature checked by the server like any other request.

import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';

export interface S3Endpoint {
  /** http://host:port */
  readonly url: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region?: string;
}

export interface S3Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The whole body, unless the caller consumed it with onData. */
  readonly body: Buffer;
  /** Bytes received. */
  readonly bytes: number;
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');

function encodePath(p: string): string {
  return p
    .split('/')
    .map((seg) => encodeURIComponent(seg).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
    .join('/');
}

let cachedKey: { id: string; key: Buffer } | undefined;

/** The Authorization header and friends for one request. */
export function signHeaders(ep: S3Endpoint, method: string, path: string, host: string, now = new Date()): Record<string, string> {
  const region = ep.region ?? 'us-east-1';
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const payload = 'UNSIGNED-PAYLOAD';
  const signed = 'host;x-amz-content-sha256;x-amz-date';
  const canonical = [method, path, '', `host:${host}`, `x-amz-content-sha256:${payload}`, `x-amz-date:${amzDate}`, '', signed, payload].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const sts = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonical)}`;
  const id = `${date}/${region}/${ep.secretKey}`;
  if (cachedKey?.id !== id) cachedKey = { id, key: hmac(hmac(hmac(hmac('AWS4' + ep.secretKey, date), region), 's3'), 'aws4_request') };
  const signature = createHmac('sha256', cachedKey.key).update(sts).digest('hex');
  return {
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payload,
    authorization: `AWS4-HMAC-SHA256 Credential=${ep.accessKey}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
  };
}

export interface S3RequestOptions {
  readonly body?: Buffer | readonly Buffer[];
  readonly headers?: Record<string, string>;
  /** Streams the response body here instead of collecting it. */
  readonly onData?: (chunk: Buffer) => void;
  readonly timeoutMs?: number;
}

export function s3Request(agent: http.Agent, ep: S3Endpoint, method: string, objectPath: string, opts: S3RequestOptions = {}): Promise<S3Response> {
  const url = new URL(ep.url);
  const path = encodePath(objectPath);
  const host = url.host;
  const pieces = opts.body === undefined ? [] : Buffer.isBuffer(opts.body) ? [opts.body] : opts.body;
  const length = pieces.reduce((n, b) => n + b.length, 0);
  const headers: Record<string, string> = { ...opts.headers, ...signHeaders(ep, method, path, host) };
  if (opts.body !== undefined || method === 'PUT' || method === 'POST') headers['content-length'] = String(length);
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (opts.onData !== undefined && (res.statusCode ?? 0) < 300) opts.onData(c);
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 120_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    if (pieces.length === 0) {
      req.end();
      return;
    }
    // Write the pieces with backpressure, so a big body is not buffered twice.
    let i = 0;
    const pump = (): void => {
      while (i < pieces.length) {
        const ok = req.write(pieces[i++]);
        if (!ok) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}
