// Small HTTP helpers shared by the S3 handlers: XML answers, the error body,
// request ids, dates as S3 formats them.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { S3Error } from './errors.js';
import { toXml } from './xml.js';

export function requestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

export function sendXml(res: ServerResponse, status: number, root: string, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const text = toXml(root, body);
  res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { ...headers, 'content-length': 0 });
  res.end();
}

export function sendS3Error(req: IncomingMessage, res: ServerResponse, err: S3Error, resource: string, reqId: string): void {
  if (res.headersSent) {
    // Too late for a clean answer: cut the connection so the client sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...err.headers, 'x-amz-request-id': reqId };
  if (err.code === 'NotModified') {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  if (req.method === 'HEAD') {
    res.writeHead(err.status, { ...headers, 'x-amz-error-code': err.code });
    res.end();
    return;
  }
  const body: Record<string, unknown> = { Code: err.code, Message: err.message, Resource: resource, RequestId: reqId };
  for (const [k, v] of Object.entries(err.extra)) body[k] = v;
  const text = toXml('Error', body, false);
  if (err.code === 'MethodNotAllowed') headers['allow'] = 'GET, PUT, POST, DELETE, HEAD';
  // Errors on a request whose body we did not read: close so the rest of the upload is not parsed as a request.
  if (!req.complete) headers['connection'] = 'close';
  res.writeHead(err.status, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** ISO 8601 with milliseconds, as S3 XML listings show times. */
export const isoDate = (ms: number): string => new Date(ms).toISOString();
/** RFC 7231 date, as S3 headers show times. */
export const httpDate = (ms: number): string => new Date(ms).toUTCString();

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/** Drains (and discards) an unread request body, bounded, so keep-alive connections stay usable. */
export async function drain(req: IncomingMessage, maxBytes = 1 << 20): Promise<void> {
  let n = 0;
  for await (const piece of req as AsyncIterable<Buffer>) {
    n += piece.length;
    if (n > maxBytes) throw new S3Error('InvalidRequest', 'unexpected request body');
  }
}
