// TLS on the client ports (issue 11 §4): a node given tlsCert/tlsKey serves
// its native API, its S3 API and its gRPC file API over TLS, tested with real
// clients that verify the chain against a private CA: curl (--cacert), the
// AWS SDK (an https.Agent with the CA), the TypeScript file client (grpc-js)
// and Python's grpcio. A clear-text request to a port gets no answer, and a
// client without the CA refuses the certificate.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { generateClusterKey } from '../../src/node/cluster-keys.js';
import { FilesClient } from '../../src/files/client.js';
import { generateCredentials } from '../../src/node/auth-wiring.js';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { waitFor } from '../helpers/cluster.js';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-tls-'));
const creds = generateCredentials('tls');
let child: ChildProcess | undefined;
let log = '';
let httpsUrl = '';
let s3Url = '';
let filesAddr = '';
let ca: Buffer;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** curl with the private CA and the user token; resolves with [status, body]. */
async function curl(args: string[], opts: { cacert?: boolean } = {}): Promise<[number, string]> {
  const { stdout } = await run('curl', ['-sS', ...(opts.cacert === false ? [] : ['--cacert', path.join(dir, 'ca.pem')]), '-H', `Authorization: Bearer ${creds.userToken}`, '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  return [Number(stdout.slice(cut + 1)), stdout.slice(0, cut)];
}

before(async () => {
  // A private CA and a server certificate for 127.0.0.1 signed by it.
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ringstore test CA']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '2', '-extfile', 'san.ext']);
  ca = readFileSync(path.join(dir, 'ca.pem'));

  const [h, g, s, f] = [await freePort(), await freePort(), await freePort(), await freePort()];
  httpsUrl = `https://127.0.0.1:${h}`;
  s3Url = `https://127.0.0.1:${s}`;
  filesAddr = `127.0.0.1:${f}`;
  const config = {
    id: 'n1',
    dataDir: path.join(dir, 'data'),
    http: `127.0.0.1:${h}`,
    grpc: `127.0.0.1:${g}`,
    s3: `127.0.0.1:${s}`,
    filesGrpc: `127.0.0.1:${f}`,
    members: [{ id: 'n1', grpc: `127.0.0.1:${g}`, http: `127.0.0.1:${h}`, zone: 'z', weight: 1 }],
    quorum: { n: 1, r: 1, w: 1 },
    clusterKeys: [generateClusterKey()],
    user: creds.user,
    accessKey: creds.accessKey,
    secretKey: creds.secretKey,
    userToken: creds.userToken,
    adminToken: creds.adminToken,
    tlsCert: path.join(dir, 'node.pem'),
    tlsKey: path.join(dir, 'node.key'),
    logLevel: 'warn',
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  child = spawn(process.execPath, [ringstoreBin(), 'server', '--config', path.join(dir, 'config.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (log += d.toString()));
  child.stderr!.on('data', (d) => (log += d.toString()));
  await waitFor(
    async () => {
      if (child!.exitCode !== null) throw new Error(`the node exited: ${log}`);
      const [status, body] = await curl([`${httpsUrl}/health`]);
      return status === 200 && (JSON.parse(body) as { auth_ready?: boolean }).auth_ready === true;
    },
    { what: 'the node to answer /health over HTTPS', timeoutMs: 90_000, intervalMs: 200 },
  );
});

after(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('curl with the CA and a token uses the native API over HTTPS; without the CA the certificate is refused', async () => {
  assert.equal((await curl(['-X', 'POST', `${httpsUrl}/buckets/secure`]))[0], 200);
  assert.equal((await curl(['-X', 'PUT', '--data-binary', 'over tls', `${httpsUrl}/buckets/secure/hello.txt`]))[0], 200);
  assert.deepEqual(await curl([`${httpsUrl}/buckets/secure/hello.txt`]), [200, 'over tls']);
  await assert.rejects(curl([`${httpsUrl}/health`], { cacert: false }), /certificate/i);
});

test('a clear-text request to the HTTPS port gets no HTTP answer', async () => {
  const port = new URL(httpsUrl).port;
  await assert.rejects(fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) }));
});

test('the AWS SDK with the CA in its agent reads and writes the S3 port over HTTPS', async () => {
  const agent = new https.Agent({ ca, keepAlive: false });
  const s3 = new S3Client({ endpoint: s3Url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: creds.accessKey, secretAccessKey: creds.secretKey }, requestHandler: { httpsAgent: agent } });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'sdk-tls' }));
    await s3.send(new PutObjectCommand({ Bucket: 'sdk-tls', Key: 'k', Body: 'sdk over tls' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk-tls', Key: 'k' }));
    assert.equal(await got.Body!.transformToString(), 'sdk over tls');
  } finally {
    s3.destroy();
    agent.destroy();
  }
});

test('the gRPC file API serves TLS: the file client with the CA uploads and reads back; without TLS, or without the CA, no call succeeds', async () => {
  const keys = { accessKey: creds.accessKey, secretKey: creds.secretKey };
  const files = new FilesClient({ address: filesAddr, ...keys, tls: { ca } });
  try {
    await files.upload('tls-files', 'hello.txt', [Buffer.from('files over tls')]);
    const got = await files.download('tls-files', 'hello.txt');
    const parts: Buffer[] = [];
    for await (const piece of got.data) parts.push(Buffer.from(piece));
    assert.equal(Buffer.concat(parts).toString(), 'files over tls');
  } finally {
    files.close();
  }
  for (const opts of [{}, { tls: {} }]) {
    const wrong = new FilesClient({ address: filesAddr, ...keys, ...opts });
    try {
      await assert.rejects(wrong.list({ bucket: 'tls-files' }), (err: { code?: number }) => err.code === 14 /* UNAVAILABLE */);
    } finally {
      wrong.close();
    }
  }
});

test("Python's grpcio lists the file over TLS with the CA, signing the call as docs/grpc-files.md says", async () => {
  // A generic unary call (no stubs needed): the ListRequest is encoded by hand
  // (field 1, bucket: tag 0x0a, length, bytes), and the raw answer must name
  // the file the previous test uploaded through the file API.
  const script = [
    'import datetime, hashlib, hmac, secrets, sys, grpc',
    'addr, ca, ak, sk = sys.argv[1:5]',
    "ch = grpc.secure_channel(addr, grpc.ssl_channel_credentials(root_certificates=open(ca, 'rb').read()))",
    "m = '/ringstore.files.v1.FileService/List'",
    "date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')",
    'nonce = secrets.token_hex(16)',
    "sig = hmac.new(sk.encode(), f'{m}\\n{date}\\n{nonce}'.encode(), hashlib.sha256).hexdigest()",
    'call = ch.unary_unary(m, request_serializer=lambda b: b, response_deserializer=lambda b: b)',
    "md = [('x-ringstore-access-key', ak), ('x-ringstore-date', date), ('x-ringstore-nonce', nonce), ('x-ringstore-signature', sig)]",
    "req = b'\\x0a' + bytes([len(b'tls-files')]) + b'tls-files'",
    "print('found' if b'hello.txt' in call(req, metadata=md, timeout=60) else 'missing')",
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', script, filesAddr, path.join(dir, 'ca.pem'), creds.accessKey, creds.secretKey]);
  assert.equal(stdout.trim(), 'found');
});
