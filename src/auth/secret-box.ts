// Secrets at rest (issue 11 §4): an access key's secret is sealed with
// AES-256-GCM under a key derived from a cluster key before it is proposed to
// the control plane, so the Raft log, its snapshots and `control backup`
// never hold one in the clear. The key id is written next to the ciphertext:
// the first key seals, every listed key opens, so cluster keys rotate
// without downtime (Garage keeps its secrets the same way, keyed by id).
//
// Sealed form: aesgcm:<key id>:<iv, base64url>:<ciphertext + tag, base64url>

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface SealingKey {
  readonly id: string;
  /** 32 bytes, already derived for this purpose (node/cluster-keys.ts deriveKey(k, 'secret-at-rest')). */
  readonly key: Buffer;
}

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

const PREFIX = 'aesgcm';

export class SecretBox {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: readonly SealingKey[]) {
    if (keys.length === 0) throw new SecretBoxError('a secret box needs at least one key');
    for (const k of keys) if (k.key.length !== 32) throw new SecretBoxError(`key ${k.id}: 32 bytes expected`);
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** Binds the ciphertext to `context` (the access key id) so a sealed secret cannot be moved to another key. */
  seal(plain: string, context: string): string {
    const k = this.keys[0]!;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', k.key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `${PREFIX}:${k.id}:${iv.toString('base64url')}:${ct.toString('base64url')}`;
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== PREFIX) throw new SecretBoxError('not a sealed secret');
    const key = this.byId.get(parts[1]!);
    if (key === undefined) throw new SecretBoxError(`sealed with cluster key ${parts[1]}, which this node does not have: add it to clusterKeys`);
    const iv = Buffer.from(parts[2]!, 'base64url');
    const body = Buffer.from(parts[3]!, 'base64url');
    if (iv.length !== 12 || body.length < 16) throw new SecretBoxError('sealed secret is truncated');
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(body.subarray(body.length - 16));
    try {
      return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(`sealed secret does not open with cluster key ${parts[1]} (damaged, or the key changed)`);
    }
  }
}
