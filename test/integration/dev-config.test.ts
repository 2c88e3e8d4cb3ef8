// `ringstore server` settings: flags over environment over config file over
// defaults, and clear refusals of settings that would split the cluster.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseMembers, parseSize } from '../../src/node/config.js';

test('defaults make a one-node cluster on 9001/9101 with 16 MiB objects', () => {
  const c = loadConfig({}, {});
  assert.equal(c.id, 'n1');
  assert.deepEqual(c.http, { host: '0.0.0.0', port: 9001 });
  assert.deepEqual(c.grpc, { host: '0.0.0.0', port: 9101 });
  assert.deepEqual(c.quorum, { n: 3, r: 2, w: 2 });
  assert.equal(c.maxObjectBytes, 16 * 1024 * 1024);
  assert.deepEqual(
    c.members.map((m) => m.id),
    ['n1'],
  );
  assert.equal(c.dataDir, path.resolve('.data/n1'));
});

test('flags override the environment, which overrides the config file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-config-'));
  try {
    const file = path.join(dir, 'node.json');
    writeFileSync(
      file,
      JSON.stringify({
        id: 'from-file',
        dataDir: 'rel-data',
        http: '127.0.0.1:7001',
        grpc: '127.0.0.1:7101',
        quorum: { n: 2, r: 1, w: 1 },
        members: [
          { id: 'from-file', grpc: '127.0.0.1:7101', zone: 'z1' },
          { id: 'env-id', grpc: '127.0.0.1:7102', zone: 'z2', weight: 2 },
          { id: 'flag-id', grpc: '127.0.0.1:7103', zone: 'z3' },
        ],
        maxObjectSize: '1MiB',
      }),
    );
    const fileOnly = loadConfig({ config: file }, {});
    assert.equal(fileOnly.id, 'from-file');
    assert.equal(fileOnly.dataDir, path.join(dir, 'rel-data'), 'relative to the config file');
    assert.equal(fileOnly.zone, 'z1', 'zone from the member list');
    assert.equal(fileOnly.maxObjectBytes, 1024 * 1024);
    assert.equal(fileOnly.advertiseGrpc, '127.0.0.1:7101');

    const env = { RINGSTORE_CONFIG: file, RINGSTORE_ID: 'env-id', RINGSTORE_HTTP: '7002', RINGSTORE_QUORUM: '3,2,2' };
    const fromEnv = loadConfig({}, env);
    assert.equal(fromEnv.id, 'env-id');
    assert.equal(fromEnv.weight, 2);
    assert.deepEqual(fromEnv.http, { host: '0.0.0.0', port: 7002 });
    assert.deepEqual(fromEnv.quorum, { n: 3, r: 2, w: 2 });

    const fromFlags = loadConfig({ id: 'flag-id', http: '127.0.0.1:7003', logLevel: 'debug' }, env);
    assert.equal(fromFlags.id, 'flag-id');
    assert.deepEqual(fromFlags.http, { host: '127.0.0.1', port: 7003 });
    assert.equal(fromFlags.logLevel, 'debug');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the compact member list, a missing self, and sizes', () => {
  const c = loadConfig({ id: 'n2', grpc: '10.0.0.2:9101', members: 'n1=10.0.0.1:9101,n3=10.0.0.3:9101' }, {});
  assert.deepEqual(
    c.members.map((m) => [m.id, m.grpc]),
    [
      ['n1', '10.0.0.1:9101'],
      ['n2', '10.0.0.2:9101'],
      ['n3', '10.0.0.3:9101'],
    ],
  );
  assert.deepEqual(parseMembers('[{"id":"a","grpc":"h:1","zone":"z","weight":3}]'), [{ id: 'a', grpc: 'h:1', zone: 'z', weight: 3 }]);
  assert.equal(parseSize('512k', 'x'), 512_000);
  assert.equal(parseSize('2 GiB', 'x'), 2 * 1024 ** 3);
});

test('settings that cannot work are refused with the setting named', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ quorum: '3,4,2' }, /quorum/],
    [{ quorum: '3,2' }, /quorum/],
    [{ partitions: '1000' }, /power of two/],
    [{ http: 'localhost:http' }, /http/],
    [{ id: 'has space' }, /id/],
    [{ members: 'n1=a:1,n1=b:2' }, /twice/],
    [{ members: 'n1' }, /id=host:port/],
    [{ members: 'n1=a:1,__proto__=b:2' }, /members: id "__proto__"/],
    [{ id: 'n1', zone: 'z9', members: '[{"id":"n1","grpc":"h:1","zone":"z1"}]' }, /contradicts/],
    [{ maxObjectSize: 'lots' }, /maxObjectSize/],
    [{ logLevel: 'loud' }, /logLevel/],
  ];
  for (const [flags, message] of bad) {
    assert.throws(() => loadConfig(flags, {}), (e: unknown) => e instanceof ConfigError && message.test(e.message), JSON.stringify(flags));
  }
});
