// HTTPS on the client ports (issue 11 §4): a node given tlsCert/tlsKey serves
// its native API and its S3 API over TLS, tested with real clients that
// verify the chain against a private CA: curl (--cacert) and the AWS SDK
// (an https.Agent with the CA). A clear-text request to the port gets no
// answer, and a client without the CA refuses the certificate.

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
