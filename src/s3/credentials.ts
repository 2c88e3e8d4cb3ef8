// Access keys as the S3 API sees them: a lookup from key id to secret and
// user. In a node the lookup is auth/directory.ts (users and keys in the
// Raft-replicated control state, secrets sealed at rest); StaticCredentials
// serves in-process tests and tools. There is no default key: `ringstore dev`
// and a bootstrapping `ringstore server` generate one (issue 11 §4).

import type { CredentialStore, KeySecret } from '../auth/credential-store.js';

export type { CredentialStore, KeySecret };

export interface AccessKey {
  readonly accessKey: string;
  readonly secretKey: string;
  /** The user the key acts as: buckets it creates belong to this user. */
  readonly owner: string;
  readonly createdMs: number;
}

/** RINGSTORE_ACCESS_KEY / RINGSTORE_SECRET_KEY, when both are set (tools pointed at a cluster by hand). */
export function credentialsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): { accessKey: string; secretKey: string } | undefined {
  const accessKey = env['RINGSTORE_ACCESS_KEY'];
  const secretKey = env['RINGSTORE_SECRET_KEY'];
  if (accessKey === undefined || accessKey === '' || secretKey === undefined || secretKey === '') return undefined;
  return { accessKey, secretKey };
}

export class StaticCredentials implements CredentialStore {
  private readonly keys: Map<string, AccessKey>;
  constructor(keys: readonly AccessKey[]) {
    this.keys = new Map(keys.map((k) => [k.accessKey, k]));
  }
  lookup(accessKey: string): Promise<AccessKey | undefined> {
    return Promise.resolve(this.keys.get(accessKey));
  }
}
