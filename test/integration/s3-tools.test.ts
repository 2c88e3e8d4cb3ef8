// The command-line S3 clients people use, unchanged, against a real 3-node
// dev cluster: aws cli, rclone and s3cmd (Debian packages awscli, rclone,
// s3cmd; .ci/run installs them). Each makes a bucket, uploads a small and a
// 50 MiB file (multipart for aws cli and s3cmd, whose thresholds are 8 and
// 15 MiB), lists, downloads both and compares checksums, deletes, and removes
// the bucket. A tool that is not installed is skipped, saying so.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, cwd, timeout: 180_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}\n${stdout}`));
      else resolve(stdout);
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
}

describe('aws cli, rclone and s3cmd against a real 3-node dev cluster', () => {
  let cluster: TestCluster;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let endpoint: string;
  let s3cfg: string;
  const small = 'small.txt';
  const big = 'big.bin';

  const bins = { aws: which('aws'), rclone: which('rclone'), s3cmd: which('s3cmd') };

  before(async () => {
    if (Object.values(bins).every((b) => b === undefined)) return; // every test skips
    cluster = await startCluster({ nodes: 3, logLevel: 'warn' });
    work = mkdtempSync(path.join(os.tmpdir(), 'ringstore-tools-'));
    endpoint = cluster.nodes[1]!.s3;
    writeFileSync(path.join(work, small), `hello from ringstore ${randomBytes(8).toString('hex')}\n`);
    const cipher = createCipheriv('aes-128-ctr', randomBytes(16), Buffer.alloc(16, 0));
    writeFileSync(path.join(work, big), cipher.update(Buffer.alloc(50 * MiB)));
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
    },
    {
      name: 'rclone',
      bin: bins.rclone,
      pkg: 'rclone',
      mb: (b) => ['mkdir', `rs:${b}`],
      put: (l, b, k) => ['copyto', l, `rs:${b}/${k}`],
      ls: (b) => ['ls', `rs:${b}`],
      get: (b, k, l) => ['copyto', `rs:${b}/${k}`, l],
      rm: (b, k) => ['deletefile', `rs:${b}/${k}`],
      rb: (b) => ['rmdir', `rs:${b}`],
    },
    {
      name: 's3cmd',
      bin: bins.s3cmd,
      pkg: 's3cmd',
      mb: (b) => ['-c', s3cfg, 'mb', `s3://${b}`],
      put: (l, b, k) => ['-c', s3cfg, '--no-progress', 'put', l, `s3://${b}/${k}`],
      ls: (b) => ['-c', s3cfg, 'ls', `s3://${b}`],
      get: (b, k, l) => ['-c', s3cfg, '--no-progress', '--force', 'get', `s3://${b}/${k}`, l],
      rm: (b, k) => ['-c', s3cfg, 'del', `s3://${b}/${k}`],
      rb: (b) => ['-c', s3cfg, 'rb', `s3://${b}`],
    },
  ];

  for (const tool of tools) {
    const skip = tool.bin === undefined ? `${tool.name} is not installed (apt-get install ${tool.pkg}; .ci/run installs it)` : false;
    test(`${tool.name}: make bucket, upload a small and a 50 MiB file, list, download and compare, delete, remove bucket`, { skip, timeout: 600_000 }, async () => {
      const bin = tool.bin as string;
      const bucket = `tools-${tool.name.replace(/[^a-z0-9]/g, '')}-${randomBytes(3).toString('hex')}`;
      const exec = (args: string[]): Promise<string> => run(bin, args, env, work);
      await exec(tool.mb(bucket));
      const t0 = Date.now();
      for (const f of [small, big]) await exec(tool.put(path.join(work, f), bucket, f));
      const t1 = Date.now();
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
        assert.equal(sha256(out), sha256(path.join(work, f)), `${tool.name}: ${f} came back different`);
        rmSync(out);
      }
      const t2 = Date.now();
      for (const f of [small, big]) await exec(tool.rm(bucket, f));
      assert.doesNotMatch(await exec(tool.ls(bucket)), /small|big/);
      await exec(tool.rb(bucket));
      process.stderr.write(`[s3-tools] ${tool.name} (${bin}): upload ${((t1 - t0) / 1000).toFixed(1)} s, download and compare ${((t2 - t1) / 1000).toFixed(1)} s\n`);
    });
  }
});
