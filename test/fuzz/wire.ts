// What the fuzz suite sends with: a seeded generator, raw exchanges on a
// TCP connection (so that malformed HTTP reaches the server as written), a
// reader of the answer's status and error code, a minimal SigV4 signer (to
// get bad bodies past authentication), and a look at a process's open
// files and sockets.

import { createHash, createHmac } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** Printable junk without CR or LF (header-safe). */
  text(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(33 + this.int(94));
    return s;
  }
}

export interface Answer {
  /** 0: the server closed (or we gave up) without an answer. */
  readonly status: number;
  /** The error code in the answer: JSON error.code, XML <Code>, or x-amz-error-code. */
  readonly code: string | undefined;
  readonly head: string;
  /** The answer's body, as latin1 text. */
  readonly body: string;
}

/**
 * Sends `parts` on a fresh connection (with `gapMs` between them), and reads
 * until the server closes or `waitMs` passes. `endAfter`: half-close our side
 * after the last part (a truncated request).
 */
export function exchange(port: number, parts: readonly Buffer[], opts: { waitMs?: number; gapMs?: number; endAfter?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(parseAnswer(Buffer.concat(chunks)));
    };
    const timer = setTimeout(finish, opts.waitMs ?? 5000);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      // One answer is all we want: stop once its declared body is in.
      const a = Buffer.concat(chunks);
      const end = a.indexOf('\r\n\r\n');
      if (end >= 0) {
        const m = /content-length:\s*(\d+)/i.exec(a.subarray(0, end).toString('latin1'));
        if (m !== null && a.length >= end + 4 + Number(m[1])) finish();
      }
    });
    sock.on('error', finish);
    sock.on('close', finish);
    sock.on('connect', async () => {
      for (let i = 0; i < parts.length; i++) {
        if (done || !sock.writable) return;
        sock.write(parts[i] as Buffer);
        if (opts.gapMs !== undefined && i < parts.length - 1) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.endAfter === true && !done) sock.end();
    });
  });
}

export function parseAnswer(raw: Buffer): Answer {
  const text = raw.toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (m === null) return { status: 0, code: undefined, head: text.slice(0, 200), body: '' };
  const cut = text.indexOf('\r\n\r\n');
  const head = cut < 0 ? text : text.slice(0, cut);
  const body = cut < 0 ? '' : text.slice(cut + 4);
  const code = /"code"\s*:\s*"([A-Za-z0-9]+)"/.exec(body)?.[1] ?? /<Code>([A-Za-z0-9]+)<\/Code>/.exec(body)?.[1] ?? /x-amz-error-code:\s*([A-Za-z0-9]+)/i.exec(head)?.[1];
  return { status: Number(m[1]), code, head: head.slice(0, 300), body };
}

/** A request as bytes: request line, headers (content-length added unless given), body. */
export function httpBytes(method: string, target: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)): Buffer {
  const h: Record<string, string> = { host: '127.0.0.1', connection: 'close', ...headers };
  if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding') && body.length > 0) h['content-length'] = String(body.length);
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const hmac = (k: string | Buffer, s: string): Buffer => createHmac('sha256', k).update(s).digest();

/** SigV4 header signing (path-style S3, region us-east-1), with the payload hash the caller chooses. */
export function signS3(
  method: string,
  path: string,
  query: string,
  headers: Record<string, string>,
  payloadHash: string,
  creds: { accessKey: string; secretKey: string },
  now = new Date(),
): Record<string, string> {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const all: Record<string, string> = { ...headers, host: headers['host'] ?? '127.0.0.1', 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadHash };
  const names = Object.keys(all)
    .map((k) => k.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalQuery = query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => (p.includes('=') ? p : `${p}=`))
    .sort()
    .join('&');
  const canonical = [method, path, canonicalQuery, names.map((n) => `${n}:${String(lower[n]).trim()}\n`).join(''), names.join(';'), payloadHash].join('\n');
  const scope = `${date}/us-east-1/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretKey}`, date), 'us-east-1'), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return { ...all, authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}

/** Open file descriptors of a process, and how many of them are sockets (Linux /proc). */
export function openFiles(pid: number): { fds: number; sockets: number } {
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed meanwhile
    }
  }
  return { fds, sockets };
}
