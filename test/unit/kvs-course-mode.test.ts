// Course mode's start (src/node/course-mode.ts): which environment turns it
// on, the derived ports on ip_port's address, ids and their ip_port, and
// the configuration it gives the node (open: credentials from the public
// constant; N = K, R = W = 1; short replica deadline).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { courseConfig, courseCredentials, courseEnv, derivedPorts, ipPortOf, nodeIdOf, COURSE_PARTITIONS, COURSE_REPLICA_TIMEOUT_MS } from '../../src/node/course-mode.js';
import { ConfigError } from '../../src/node/config.js';

test('course mode: K and ip_port turn it on; VIEW is optional and must list ip_port', () => {
  assert.equal(courseEnv({}), undefined);
  assert.equal(courseEnv({ RINGSTORE_ID: 'n1' }), undefined);
  const ce = courseEnv({ K: '2', ip_port: '127.0.0.2:8080', VIEW: '127.0.0.2:8080, 127.0.0.3:8080' });
  assert.deepEqual(ce, { k: 2, ipPort: '127.0.0.2:8080', ip: '127.0.0.2', port: 8080, view: ['127.0.0.2:8080', '127.0.0.3:8080'] });
  assert.equal(courseEnv({ K: '3', ip_port: '10.0.0.21:8080' })?.view, undefined);
  assert.throws(() => courseEnv({ K: '2' }), ConfigError);
  assert.throws(() => courseEnv({ ip_port: '127.0.0.2:8080' }), ConfigError);
  assert.throws(() => courseEnv({ K: 'two', ip_port: '127.0.0.2:8080' }), ConfigError);
  assert.throws(() => courseEnv({ K: '2', ip_port: '127.0.0.2' }), ConfigError);
  assert.throws(() => courseEnv({ K: '2', ip_port: '127.0.0.2:8080', VIEW: '127.0.0.3:8080' }), /does not list/);
});

test('course mode: ports +1..+5 on the same address, counting down near the top', () => {
  assert.deepEqual(derivedPorts(8080), { http: 8081, grpc: 8082, s3: 8083, filesGrpc: 8084, bulk: 8085 });
  assert.deepEqual(derivedPorts(65533), { http: 65532, grpc: 65531, s3: 65530, filesGrpc: 65529, bulk: 65528 });
});

test('course mode: ids are ip_port with _ for the colon, -version for an added node, and map back', () => {
  assert.equal(nodeIdOf('127.0.0.2:8080'), '127.0.0.2_8080');
  assert.equal(nodeIdOf('127.0.0.6:8080', 3), '127.0.0.6_8080-3');
  assert.equal(ipPortOf('127.0.0.2_8080'), '127.0.0.2:8080');
  assert.equal(ipPortOf('127.0.0.6_8080-3'), '127.0.0.6:8080');
  assert.equal(ipPortOf('my-host_9000-12'), 'my-host:9000');
});

test('course mode: the node configuration binds ip_port\'s address only and uses the public credentials', () => {
  const ce = courseEnv({ K: '2', ip_port: '127.0.0.3:8080', VIEW: '127.0.0.2:8080,127.0.0.3:8080,127.0.0.4:8080' })!;
  const c = courseConfig(ce, nodeIdOf(ce.ipPort), { RINGSTORE_DATA: '/tmp/x' });
  assert.equal(c.id, '127.0.0.3_8080');
  for (const l of [c.http, c.grpc, c.s3, c.filesGrpc]) assert.equal(l.host, '127.0.0.3');
  assert.deepEqual([c.http.port, c.grpc.port, c.s3.port, c.filesGrpc.port, c.bulkPort], [8081, 8082, 8083, 8084, 8085]);
  assert.deepEqual(c.members.map((m) => [m.id, m.grpc]), [['127.0.0.2_8080', '127.0.0.2:8082'], ['127.0.0.3_8080', '127.0.0.3:8082'], ['127.0.0.4_8080', '127.0.0.4:8082']]);
  assert.deepEqual(c.quorum, { n: 2, r: 1, w: 1 });
  assert.equal(c.partitions, COURSE_PARTITIONS);
  assert.equal(c.replicaTimeoutMs, COURSE_REPLICA_TIMEOUT_MS);
  assert.equal(c.dataDir, '/tmp/x');
  assert.equal(c.clusterKeysEphemeral, false);
  assert.equal(c.adminToken, courseCredentials().adminToken);
  assert.equal(c.faults, false);
  assert.equal(courseConfig(ce, 'x', { RINGSTORE_FAULTS: '1' }).faults, true);
  // The default folder has no dots (LMDB would open it as a file).
  assert.match(courseConfig(ce, 'x', {}).dataDir, /[/]\.data[/]kvs[/]127-0-0-3_8080$/);
  // A joining node lists no initial members but itself.
  const j = courseConfig({ ...ce, view: undefined }, '127.0.0.3_8080-4', {}, '127.0.0.2:8081');
  assert.deepEqual(j.members.map((m) => m.id), ['127.0.0.3_8080-4']);
  assert.equal(j.join, '127.0.0.2:8081');
  // Every node derives the same credentials.
  assert.deepEqual(courseCredentials(), courseCredentials());
});
