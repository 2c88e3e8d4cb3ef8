// Transports for tests that speak the real protocol between real sockets:
// mutual TLS like a node (node-tls.ts), with identities issued from a fixed
// test cluster key. Refusal tests (test/unit/transport-security.test.ts)
// make their own keys and member lists.

import type { ClusterKey } from '../../src/node/cluster-keys.js';
import { issueNodeIdentity } from '../../src/node/tls-identity.js';
import { createGrpcTransport, type GrpcTransport, type GrpcTransportOptions } from '../../src/transport/grpc.js';
import type { NodeTlsIdentity } from '../../src/transport/node-tls.js';

export const TEST_KEY: ClusterKey = { id: 'ktest', key: Buffer.alloc(32, 7) };

export function testKey(id: string, fill: number): ClusterKey {
  return { id, key: Buffer.alloc(32, fill) };
}

const issued = new Map<string, Promise<NodeTlsIdentity>>();

/** The identity of `self` under `keys` (default: the test key), issued once per process. */
export function testIdentity(self: string, keys: readonly ClusterKey[] = [TEST_KEY]): Promise<NodeTlsIdentity> {
  const k = `${self}|${keys.map((x) => `${x.id}:${x.key.toString('hex')}`).join(',')}`;
  let p = issued.get(k);
  if (p === undefined) {
    p = issueNodeIdentity(self, keys);
    issued.set(k, p);
  }
  return p;
}

/** createGrpcTransport with the test key, every holder of it a member (unless `security` is given). */
export async function createTestTransport(opts: Omit<GrpcTransportOptions, 'security'> & Partial<Pick<GrpcTransportOptions, 'security'>>): Promise<GrpcTransport> {
  return createGrpcTransport({ ...opts, security: opts.security ?? { identity: await testIdentity(opts.self), isMember: () => true } });
}
