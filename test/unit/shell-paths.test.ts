// The shell's pure parts: remote paths, command lines, -c scripts, sizes,
// and the endpoints it derives from a cluster file or --endpoint.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { baseName, dirPrefix, escapeWord, humanSize, joinPath, resolvePath, splitArgs, splitCommands } from '../../src/cli/shell/paths.js';
import { encodeObjectPath } from '../../src/cli/shell/client.js';
import { endpointsFrom } from '../../src/cli/shell/shell.js';
import { ShellError } from '../../src/cli/shell/commands.js';

test('paths resolve against the working directory: absolute, relative, . and .., repeated and trailing slashes', () => {
  assert.deepEqual(resolvePath('/', '/'), { path: '/', bucket: undefined, key: '' });
  assert.deepEqual(resolvePath('/', 'photos'), { path: '/photos', bucket: 'photos', key: '' });
  assert.deepEqual(resolvePath('/photos/docs', 'a.pdf'), { path: '/photos/docs/a.pdf', bucket: 'photos', key: 'docs/a.pdf' });
  assert.deepEqual(resolvePath('/photos/docs', '../x//y/'), { path: '/photos/x/y', bucket: 'photos', key: 'x/y' });
  assert.deepEqual(resolvePath('/photos/docs', '/other/./k'), { path: '/other/k', bucket: 'other', key: 'k' });
  assert.equal(resolvePath('/photos', '../../..').path, '/', '.. stops at the root');
  assert.equal(dirPrefix(resolvePath('/', '/b')), '');
  assert.equal(dirPrefix(resolvePath('/', '/b/d/e')), 'd/e/');
  assert.equal(joinPath(resolvePath('/', '/b/d'), 'f.txt').path, '/b/d/f.txt');
  assert.equal(baseName('d/e/f.txt'), 'f.txt');
  assert.equal(baseName('d/e/'), 'e');
});

test('command lines split like a shell: quotes keep spaces, backslashes escape, an open quote is an error', () => {
  assert.deepEqual(splitArgs('put  /b/k   "hello world"'), ['put', '/b/k', 'hello world']);
  assert.deepEqual(splitArgs("put /b/k 'it''s'"), ['put', '/b/k', 'its']);
  assert.deepEqual(splitArgs('upload my\\ file.pdf /b'), ['upload', 'my file.pdf', '/b']);
  assert.deepEqual(splitArgs('put k "say \\"hi\\""'), ['put', 'k', 'say "hi"']);
  assert.deepEqual(splitArgs('put k ""'), ['put', 'k', '']);
  assert.deepEqual(splitArgs('   '), []);
  assert.throws(() => splitArgs('put k "open'), /unterminated/);
  assert.equal(splitArgs(escapeWord("a b'c;d"))[0], "a b'c;d");
});

test('-c scripts split at ; and newlines outside quotes', () => {
  assert.deepEqual(splitCommands('mkdir /b/docs; upload ./a.pdf /b/docs'), ['mkdir /b/docs', 'upload ./a.pdf /b/docs']);
  assert.deepEqual(splitCommands('put /b/k "a;b"; get /b/k\nls'), ['put /b/k "a;b"', 'get /b/k', 'ls']);
  assert.deepEqual(splitCommands(";; ls ;"), ['ls']);
  assert.deepEqual(splitCommands("put /b/k a\\;b"), ['put /b/k a\\;b']);
});

test('sizes read as people write them', () => {
  assert.equal(humanSize(0), '0 B');
  assert.equal(humanSize(1023), '1023 B');
  assert.equal(humanSize(1536), '1.5 KiB');
  assert.equal(humanSize(50 * 1024 * 1024), '50.0 MiB');
});

test('object paths are percent-encoded per segment, keeping the slashes of the key', () => {
  assert.equal(encodeObjectPath(undefined, undefined), '/');
  assert.equal(encodeObjectPath('b', undefined), '/b');
  assert.equal(encodeObjectPath('b', 'dir/a b?.txt'), '/b/dir/a%20b%3F.txt');
});

test('the shell finds the cluster in a cluster.json, or at --endpoint with credentials from the environment', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rs-shell-'));
  try {
    const file = path.join(dir, 'cluster.json');
    writeFileSync(
      file,
      JSON.stringify({
        nodes: [
          { id: 'n1', http: 'http://127.0.0.1:1', s3: 'http://127.0.0.1:2', running: false },
          { id: 'n2', http: 'http://127.0.0.1:3', s3: 'http://127.0.0.1:4', running: true },
        ],
        access_key: 'AK',
        secret_key: 'SK',
      }),
    );
    const e = endpointsFrom({ cluster: file });
    assert.equal(e.http, 'http://127.0.0.1:3', 'the first running node');
    assert.equal(e.s3, 'http://127.0.0.1:4');
    assert.equal(e.accessKey, 'AK');
    assert.deepEqual(e.nodes?.map((n) => n.id), ['n1', 'n2']);
    assert.throws(() => endpointsFrom({ cluster: path.join(dir, 'none.json') }), (err: Error) => err instanceof ShellError && /ringstore dev/.test(err.message));
    const byUrl = endpointsFrom({ endpoint: 'http://10.0.0.1:9001', env: { RINGSTORE_ACCESS_KEY: 'K1', RINGSTORE_SECRET_KEY: 'S1' } });
    assert.deepEqual({ http: byUrl.http, s3: byUrl.s3, a: byUrl.accessKey, s: byUrl.secretKey }, { http: 'http://10.0.0.1:9001', s3: 'http://10.0.0.1:9201', a: 'K1', s: 'S1' });
    const keys = { RINGSTORE_ACCESS_KEY: 'K1', RINGSTORE_SECRET_KEY: 'S1' };
    assert.equal(endpointsFrom({ endpoint: '10.0.0.1:9001', s3: '10.0.0.9:7000', env: keys }).s3, 'http://10.0.0.9:7000');
    // No default key: without credentials the shell says where to put them.
    assert.throws(() => endpointsFrom({ endpoint: '10.0.0.1:9001', env: {} }), (err: Error) => err instanceof ShellError && /RINGSTORE_ACCESS_KEY/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
