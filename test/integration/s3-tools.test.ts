// The command-line S3 clients people use, unchanged, against a real 3-node
// dev cluster: aws cli, rclone and s3cmd (Debian packages awscli, rclone,
// s3cmd; .ci/run installs them). Each makes a bucket, uploads a small and a
// 50 MiB file with multipart forced (5 MiB parts: rclone is a Go client, so
// its CompleteMultipartUpload body is Go's encoding/xml), lists, downloads
// both and compares them byte for byte, deletes, and removes the bucket; then
// syncs a folder of 300 small files twice, and the second sync must transfer
// nothing. A tool that is not installed fails its test, saying how to get it.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

const MiB = 1024 * 1024;

/** The absolute path of an executable on PATH, or undefined. */
function which(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a tool; resolves with what it printed (stdout, then stderr: rclone logs its transfers there). */
function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, cwd, timeout: 300_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}\n${stdout}`));
      else resolve(`${stdout}\n${stderr}`);
    });
  });
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** What every tool does: the same flow, spelled in its own commands. */
interface Tool {
  readonly name: string;
  readonly bin: string | undefined;
  readonly pkg: string;
  /** Commands for: make bucket, upload, list, download, delete, remove bucket. */
  mb(b: string): string[];
  put(local: string, b: string, key: string): string[];
  ls(b: string): string[];
  get(b: string, key: string, local: string): string[];
  rm(b: string, key: string): string[];
  rb(b: string): string[];
  /** Mirror a local folder to s3://b/prefix/. */
  sync(local: string, b: string, prefix: string): string[];
  /** How many files a sync's output says it uploaded. */
  uploaded(output: string): number;
}

const PART = 5 * MiB;
const SYNC_FILES = 300;

describe('aws cli, rclone and s3cmd against a real 3-node dev cluster', () => {
  let cluster: TestCluster;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let endpoint: string;
  let s3cfg: string;
  const small = 'small.txt';
  const big = 'big.bin';

  const bins = { aws: which('aws'), rclone: which('rclone'), s3cmd: which('s3cmd') };

  let s3: S3Client;
  let syncDir: string;

  before(async () => {
    cluster = await startCluster({ nodes: 3, logLevel: 'warn' });
    work = mkdtempSync(path.join(os.tmpdir(), 'ringstore-tools-'));
    endpoint = cluster.nodes[1]!.s3;
    writeFileSync(path.join(work, small), `hello from ringstore ${randomBytes(8).toString('hex')}\n`);
    const cipher = createCipheriv('aes-128-ctr', randomBytes(16), Buffer.alloc(16, 0));
    writeFileSync(path.join(work, big), cipher.update(Buffer.alloc(50 * MiB)));
    syncDir = path.join(work, 'site');
    mkdirSync(path.join(syncDir, 'sub'), { recursive: true });
    for (let i = 0; i < SYNC_FILES; i++) writeFileSync(path.join(syncDir, i % 3 === 0 ? 'sub' : '', `f${i}.txt`), `file ${i} ${randomBytes(8).toString('hex')}\n`);
    s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: cluster.accessKey, secretAccessKey: cluster.secretKey } });
    // aws cli: 5 MiB multipart threshold and part size (its config file, as a user would set them).
    writeFileSync(path.join(work, 'aws-config'), ['[default]', 'region = us-east-1', 's3 =', `    multipart_threshold = ${PART}`, `    multipart_chunksize = ${PART}`, ''].join('\n'));
    const host = new URL(endpoint).host;
    s3cfg = path.join(work, 's3cfg');
    writeFileSync(
      s3cfg,
      [
        '[default]',
        `access_key = ${cluster.accessKey}`,
        `secret_key = ${cluster.secretKey}`,
        `host_base = ${host}`,
        `host_bucket = ${host}`,
        'use_https = False',
        'signature_v2 = False',
        'bucket_location = us-east-1',
        'check_ssl_certificate = False',
        '',
      ].join('\n'),
    );
    // Nothing from the user's own configuration of these tools.
    env = {
      PATH: process.env['PATH'],
      HOME: work,
      LANG: 'C.UTF-8',
      AWS_ACCESS_KEY_ID: cluster.accessKey,
      AWS_SECRET_ACCESS_KEY: cluster.secretKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: path.join(work, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
      RCLONE_CONFIG: path.join(work, 'rclone.conf'),
      RCLONE_CONFIG_RS_TYPE: 's3',
      RCLONE_CONFIG_RS_PROVIDER: 'Other',
      RCLONE_CONFIG_RS_ACCESS_KEY_ID: cluster.accessKey,
      RCLONE_CONFIG_RS_SECRET_ACCESS_KEY: cluster.secretKey,
      RCLONE_CONFIG_RS_ENDPOINT: endpoint,
      RCLONE_CONFIG_RS_REGION: 'us-east-1',
      RCLONE_CONFIG_RS_FORCE_PATH_STYLE: 'true',
    };
  });

  after(async () => {
    s3?.destroy();
    await cluster?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  const tools: Tool[] = [
    {
      name: 'aws cli',
      bin: bins.aws,
      pkg: 'awscli',
      mb: (b) => ['--endpoint-url', endpoint, 's3', 'mb', `s3://${b}`],
      put: (l, b, k) => ['--endpoint-url', endpoint, 's3', 'cp', '--no-progress', l, `s3://${b}/${k}`],
      ls: (b) => ['--endpoint-url', endpoint, 's3', 'ls', `s3://${b}/`],
      get: (b, k, l) => ['--endpoint-url', endpoint, 's3', 'cp', '--no-progress', `s3://${b}/${k}`, l],
      rm: (b, k) => ['--endpoint-url', endpoint, 's3', 'rm', `s3://${b}/${k}`],
      rb: (b) => ['--endpoint-url', endpoint, 's3', 'rb', `s3://${b}`],
      sync: (l, b, p) => ['--endpoint-url', endpoint, 's3', 'sync', '--no-progress', l, `s3://${b}/${p}/`],
      uploaded: (out) => out.split('\n').filter((l) => l.startsWith('upload:')).length,
    },
    {
      name: 'rclone',
      bin: bins.rclone,
      pkg: 'rclone',
      mb: (b) => ['mkdir', `rs:${b}`],
      put: (l, b, k) => ['copyto', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', l, `rs:${b}/${k}`],
      ls: (b) => ['ls', `rs:${b}`],
      get: (b, k, l) => ['copyto', `rs:${b}/${k}`, l],
      rm: (b, k) => ['deletefile', `rs:${b}/${k}`],
      rb: (b) => ['rmdir', `rs:${b}`],
      sync: (l, b, p) => ['sync', '-v', '--use-json-log', l, `rs:${b}/${p}`],
      // One JSON log line per transferred file ("Copied (new)" / "Copied (replaced existing)").
      uploaded: (out) => out.split('\n').filter((l) => l.startsWith('{') && /"msg":"Copied \(/.test(l)).length,
    },
    {
      name: 's3cmd',
      bin: bins.s3cmd,
      pkg: 's3cmd',
      mb: (b) => ['-c', s3cfg, 'mb', `s3://${b}`],
      put: (l, b, k) => ['-c', s3cfg, '--no-progress', '--multipart-chunk-size-mb=5', 'put', l, `s3://${b}/${k}`],
      ls: (b) => ['-c', s3cfg, 'ls', `s3://${b}`],
      get: (b, k, l) => ['-c', s3cfg, '--no-progress', '--force', 'get', `s3://${b}/${k}`, l],
      rm: (b, k) => ['-c', s3cfg, 'del', `s3://${b}/${k}`],
      rb: (b) => ['-c', s3cfg, 'rb', `s3://${b}`],
      sync: (l, b, p) => ['-c', s3cfg, '--no-progress', 'sync', `${l}/`, `s3://${b}/${p}/`],
      uploaded: (out) => out.split('\n').filter((l) => /^upload: /.test(l)).length,
    },
  ];

  /** The tool's binary: missing is a failure (CI installs all three), with how to get it. */
  const binOf = (tool: Tool): string => {
    if (tool.bin === undefined) assert.fail(`${tool.name} is not installed: apt-get install ${tool.pkg} (.ci/run installs it; these tests do not skip)`);
    return tool.bin;
  };

  for (const tool of tools) {
    test(`${tool.name}: make bucket, upload a small and a 50 MiB file in 5 MiB parts, list, download and compare byte for byte, delete, remove bucket`, { timeout: 600_000 }, async () => {
      const bin = binOf(tool);
      const bucket = `tools-${tool.name.replace(/[^a-z0-9]/g, '')}-${randomBytes(3).toString('hex')}`;
      const exec = (args: string[]): Promise<string> => run(bin, args, env, work);
      await exec(tool.mb(bucket));
      const t0 = Date.now();
      for (const f of [small, big]) await exec(tool.put(path.join(work, f), bucket, f));
      const t1 = Date.now();
      // Multipart it was: an md5-of-md5s ETag with the part count (50 MiB in 5 MiB parts).
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: big }));
      assert.match(head.ETag ?? '', /-10"$/, `${tool.name} uploaded ${big} in ten parts (ETag ${head.ETag})`);
      const listing = await exec(tool.ls(bucket));
      for (const [f, size] of [
        [small, readFileSync(path.join(work, small)).length],
        [big, 50 * MiB],
      ] as const) {
        assert.match(listing, new RegExp(`\\b${size}\\b.*${f.replace('.', '\\.')}`), `${tool.name} ls shows ${f} with its size:\n${listing}`);
      }
      for (const f of [small, big]) {
        const out = path.join(work, `${tool.pkg}-${f}.down`);
        await exec(tool.get(bucket, f, out));
        assert.ok(readFileSync(out).equals(readFileSync(path.join(work, f))), `${tool.name}: ${f} came back different (sha256 ${sha256(out)})`);
        rmSync(out);
      }
      const t2 = Date.now();
      for (const f of [small, big]) await exec(tool.rm(bucket, f));
      assert.doesNotMatch(await exec(tool.ls(bucket)), /small|big/);
      await exec(tool.rb(bucket));
      process.stderr.write(`[s3-tools] ${tool.name} (${bin}): upload ${((t1 - t0) / 1000).toFixed(1)} s, download and compare ${((t2 - t1) / 1000).toFixed(1)} s\n`);
    });

    test(`${tool.name}: syncing a folder of ${SYNC_FILES} small files uploads them all; syncing it again with no changes transfers nothing`, { timeout: 600_000 }, async () => {
      const bin = binOf(tool);
      const bucket = `sync-${tool.name.replace(/[^a-z0-9]/g, '')}-${randomBytes(3).toString('hex')}`;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const exec = (args: string[]): Promise<string> => run(bin, args, env, work);
      const t0 = Date.now();
      const first = await exec(tool.sync(syncDir, bucket, 'site'));
      const t1 = Date.now();
      assert.equal(tool.uploaded(first), SYNC_FILES, `${tool.name}'s first sync uploads every file:\n${first.slice(0, 2000)}`);
      let keys = 0;
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'site/', ContinuationToken: token }));
        keys += page.KeyCount ?? 0;
        token = page.NextContinuationToken;
      } while (token !== undefined);
      assert.equal(keys, SYNC_FILES);
      const second = await exec(tool.sync(syncDir, bucket, 'site'));
      const t2 = Date.now();
      assert.equal(tool.uploaded(second), 0, `${tool.name}'s second sync transfers nothing:\n${second.slice(0, 2000)}`);
      process.stderr.write(`[s3-tools] ${tool.name}: sync of ${SYNC_FILES} files ${((t1 - t0) / 1000).toFixed(1)} s, again unchanged ${((t2 - t1) / 1000).toFixed(1)} s\n`);
    });
  }
});
