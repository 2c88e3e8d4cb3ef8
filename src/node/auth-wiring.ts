// A node's credentials (issue 11 §2-4): the auth directory over the control
// plane, the HTTP front's gate, and a new cluster's first credentials.
//
// The control plane is the Raft-backed one once node processes run Raft
// (issue 9); until then each node holds a LocalControlPlane, seeded from its
// config at start: every node of a `ringstore dev` cluster is given the same
// bootstrap credentials, so each accepts them, but a key or token created at
// run time is known only to the node that created it.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AuthDirectory, type BootstrapCredentials } from '../auth/directory.js';
import { directoryAuth, type HttpAuth } from '../auth/http-auth.js';
import { SecretBox } from '../auth/secret-box.js';
import { mintToken } from '../auth/tokens.js';
import { LocalControlPlane, type ControlPlane } from '../control/plane.js';
import { deriveKey } from './cluster-keys.js';
import type { NodeConfig } from './config.js';
import { systemClock } from './real-runtime.js';
import type { TlsFiles } from '../api/http.js';

export interface NodeAuth {
  readonly plane: ControlPlane;
  readonly directory: AuthDirectory;
  readonly http: HttpAuth;
}

/** Fresh credentials for a new cluster: what `ringstore dev` writes to cluster.json and a bootstrapping server prints. */
export function generateCredentials(user: string): Required<BootstrapCredentials> {
  return {
    user,
    accessKey: 'RS' + randomBytes(9).toString('hex').toUpperCase(),
    secretKey: randomBytes(30).toString('base64url'),
    userToken: mintToken('user').token,
    adminToken: mintToken('admin').token,
  };
}

export async function startAuth(config: NodeConfig, logger: Logger, plane: ControlPlane = new LocalControlPlane(() => systemClock.now())): Promise<NodeAuth> {
  const box = new SecretBox(config.clusterKeys.map((k) => ({ id: k.id, key: deriveKey(k, 'secret-at-rest') })));
  const directory = new AuthDirectory(plane, box, () => systemClock.now());
  if (config.accessKey !== undefined && config.secretKey !== undefined) {
    await directory.bootstrap({
      user: config.user,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      ...(config.userToken !== undefined ? { userToken: config.userToken } : {}),
      ...(config.adminToken !== undefined ? { adminToken: config.adminToken } : {}),
    });
  } else if (directory.users().length === 0) {
    // A new cluster with nothing configured: make its credentials and show them once.
    const c = generateCredentials(config.user);
    await directory.bootstrap(c);
    process.stdout.write(
      [
        '',
        'ringstore: a new cluster, with new credentials. They are shown this once; keep them.',
        `  user          ${c.user}`,
        `  access key    ${c.accessKey}`,
        `  secret key    ${c.secretKey}`,
        `  user token    ${c.userToken}`,
        `  admin token   ${c.adminToken}`,
        `next: curl -H "Authorization: Bearer ${c.userToken}" http://${config.advertiseHttp}/buckets`,
        '',
      ].join('\n') + '\n',
    );
    logger.warn({ user: c.user, access_key: c.accessKey }, 'generated the cluster\'s first credentials (printed on stdout once)');
  }
  return { plane, directory, http: directoryAuth(directory, () => systemClock.now()) };
}

/** The certificate and key the HTTP ports serve, when configured. */
export function tlsFiles(config: NodeConfig): TlsFiles | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Warns about each client port that listens beyond loopback in clear text (issue 11 §4). */
export function warnIfExposed(config: NodeConfig, logger: Logger): void {
  if (config.tlsCert !== undefined) return;
  for (const [what, hp] of [
    ['http', config.http],
    ['s3', config.s3],
  ] as const) {
    if (!LOOPBACK.test(hp.host)) {
      logger.warn({ listen: `${hp.host}:${hp.port}` }, `the ${what} port listens beyond loopback without TLS: credentials and data cross the network in clear text (set tlsCert and tlsKey)`);
    }
  }
}
