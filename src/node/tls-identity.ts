// A node's TLS identity between nodes (docs/security.md, "Between nodes"),
// made from the cluster keys alone, so there is no CA to run, ship or back
// up, and nothing to do when a node joins:
//
//   - each cluster key k derives a cluster CA: an ECDSA P-256 key pair whose
//     private scalar is deriveKey(k, "node-ca"), and a self-signed certificate
//     "CN=ringstore cluster CA <k.id>". Every node that holds k derives the
//     same CA, so every node trusts the CAs of all its configured keys;
//   - at start, a node makes a fresh key pair and issues itself a certificate
//     "CN=<node id>" signed by the CA of its FIRST key. Peers take its
//     identity from that subject, checked by the TLS handshake, never from
//     what it writes in a message;
//   - for each of its other keys it adds a cross certificate: the first
//     key's CA (same name, same public key) signed by that key's CA. A peer
//     that trusts only an older key builds leaf → cross → old CA and accepts
//     it (RFC 4158 cross-certification). So two nodes talk exactly when their
//     key lists share a key, which is what rotation needs (docs/security.md).
//
// The key id travels in the handshake as the issuer name of every
// certificate in the chain.

import { createECDH, createPrivateKey, webcrypto } from 'node:crypto';
// @peculiar/x509 resolves its ASN.1 serializers through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

import type { NodeId } from '../version/dvv.js';
import type { NodeSecurity, NodeTlsIdentity } from '../transport/node-tls.js';
import type { NodeConfig } from './config.js';
import { deriveKey, type ClusterKey } from './cluster-keys.js';

const subtle = webcrypto.subtle;
// The library signs with this provider (Node's WebCrypto), not whatever a global holds.
x509.cryptoProvider.set(webcrypto as never);
const EC: webcrypto.EcKeyImportParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
/** The order of the P-256 group: a private scalar must be in [1, N-1]. */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
/** Fixed, so that every node derives byte-for-byte the same CA (and cross) certificates. */
const CA_NOT_BEFORE = new Date(Date.UTC(2020, 0, 1));
const CA_NOT_AFTER = new Date(Date.UTC(2120, 0, 1));
/** A node's own certificate: valid a day back (clock skew) and long enough never to expire while its process runs. */
const LEAF_BACKDATE_MS = 24 * 3600 * 1000;
const LEAF_LIFETIME_MS = 20 * 365 * 24 * 3600 * 1000;

interface ClusterCa {
  readonly keyId: string;
  readonly name: string;
  readonly publicKey: webcrypto.CryptoKey;
  readonly privateKey: webcrypto.CryptoKey;
  readonly cert: x509.X509Certificate;
}

export function caName(keyId: string): string {
  return `CN=ringstore cluster CA ${keyId}, O=ringstore`;
}

const b64u = (b: Buffer): string => b.toString('base64url');

/** The CA key pair of cluster key `k`: deterministic, from deriveKey(k, "node-ca"). */
async function caKeys(k: ClusterKey): Promise<{ publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey }> {
  const seed = deriveKey(k, 'node-ca');
  // Rejection sampling: an HMAC output outside [1, N-1] (odds 2^-32) is rehashed.
  let d = seed;
  for (let i = 1; ; i++) {
    const v = BigInt(`0x${d.toString('hex')}`);
    if (v > 0n && v < P256_N) break;
    d = deriveKey({ id: k.id, key: seed }, `node-ca/${i}`);
  }
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey(); // 0x04 | x | y
  const jwk = { kty: 'EC', crv: 'P-256', x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33, 65)) };
  const privateKey = await subtle.importKey('jwk', { ...jwk, d: b64u(d) }, EC, false, ['sign']);
  const publicKey = await subtle.importKey('jwk', jwk, EC, true, ['verify']);
  return { publicKey, privateKey };
}

/** Deterministic serial numbers (positive, 16 bytes) so that every node derives the same certificates. */
async function serialOf(...parts: string[]): Promise<string> {
  const h = Buffer.from(await subtle.digest('SHA-256', Buffer.from(parts.join('\0'))));
  h[0] = h[0]! & 0x7f;
  return h.subarray(0, 16).toString('hex');
}

async function clusterCa(k: ClusterKey): Promise<ClusterCa> {
  const { publicKey, privateKey } = await caKeys(k);
  const name = caName(k.id);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: await serialOf('ca', k.id),
      name,
      notBefore: CA_NOT_BEFORE,
      notAfter: CA_NOT_AFTER,
      signingAlgorithm: SIGN,
      keys: { publicKey, privateKey },
      extensions: await caExtensions(publicKey, publicKey, 1),
  });
  return { keyId: k.id, name, publicKey, privateKey, cert };
}

/** pathLength: a CA root may have one CA below it (a cross certificate), which may have none. */
async function caExtensions(subjectKey: webcrypto.CryptoKey, issuerKey: webcrypto.CryptoKey, pathLength: 0 | 1): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(subjectKey, false),
    await x509.AuthorityKeyIdentifierExtension.create(issuerKey, false),
  ];
}

/**
 * Issues this node's identity: a fresh key pair, its certificate signed by
 * the CA of keys[0], cross certificates from every other key's CA, and the
 * CAs of all keys as the roots it trusts.
 */
export async function issueNodeIdentity(self: NodeId, keys: readonly ClusterKey[], now: Date = new Date()): Promise<NodeTlsIdentity> {
  if (keys.length === 0) throw new Error('issueNodeIdentity: no cluster key');
  const cas = await Promise.all(keys.map(clusterCa));
  const signer = cas[0]!;
  const leafKeys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^./, '1'),
      subject: `CN=${self}, O=ringstore`,
      issuer: signer.name,
      notBefore: new Date(now.getTime() - LEAF_BACKDATE_MS),
      notAfter: new Date(now.getTime() + LEAF_LIFETIME_MS),
      signingAlgorithm: SIGN,
      publicKey: leafKeys.publicKey,
      signingKey: signer.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // Both: the same certificate serves this node as a server and as a client.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false),
        await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey, false),
      ],
  });
  const cross = await Promise.all(
    cas.slice(1).map(async (ca) =>
      x509.X509CertificateGenerator.create({
          serialNumber: await serialOf('cross', signer.keyId, ca.keyId),
          subject: signer.name,
          issuer: ca.name,
          notBefore: CA_NOT_BEFORE,
          notAfter: CA_NOT_AFTER,
          signingAlgorithm: SIGN,
          publicKey: signer.publicKey,
          signingKey: ca.privateKey,
          extensions: await caExtensions(signer.publicKey, ca.publicKey, 0),
      }),
    ),
  );
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', leafKeys.privateKey));
  return {
    self,
    keyIds: keys.map((k) => k.id),
    key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString(),
    certChain: [leaf, ...cross].map((c) => c.toString('pem')).join('\n') + '\n',
    trustedCas: cas.map((c) => c.cert.toString('pem')).join('\n') + '\n',
  };
}

/**
 * The transport security of a node: its identity from the configured
 * cluster keys, and who is a member: the configured member list, or
 * `layoutHas` (the control plane's layout, which a node that joined with
 * --join is in). `joining`: a node that joined and has not learned the
 * layout yet accepts any certificate of the cluster, or it could never
 * receive the snapshot that tells it who the members are.
 */
export async function nodeSecurity(
  config: Pick<NodeConfig, 'id' | 'members' | 'clusterKeys'>,
  layout: { readonly has: (id: string) => boolean; readonly joining: () => boolean },
): Promise<NodeSecurity> {
  const configured = new Set(config.members.map((m) => m.id));
  return { identity: await issueNodeIdentity(config.id, config.clusterKeys), isMember: (id) => configured.has(id) || layout.has(id) || layout.joining() };
}
