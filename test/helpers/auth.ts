// The test suite's one way to sign a request (issue 11 §2): a node's admin
// routes get the admin token, every other route the user's API token, and a
// request that sets its own Authorization header (a refusal test) keeps it.
// TestCluster.fetch (cluster.ts) uses it against real processes; in-process
// tests build their HTTP server over testAuth()'s directory and call its
// fetch, so no test depends on an open API.

import { randomBytes } from 'node:crypto';
import { AuthDirectory } from '../../src/auth/directory.js';
import { directoryAuth, type HttpAuth } from '../../src/auth/http-auth.js';
import { SecretBox } from '../../src/auth/secret-box.js';
import { LocalControlPlane } from '../../src/control/plane.js';
import { generateCredentials } from '../../src/node/auth-wiring.js';

const ADMIN_PREFIXES = ['/cluster', '/_faults', '/_antientropy', '/_s3', '/_auth', '/metrics'];

/** Whether a path is an admin route (an admin token opens it). */
export function isAdminPath(path: string): boolean {
  return ADMIN_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`));
}

export interface Credentials {
  readonly userToken: string;
  readonly adminToken: string;
}

/** fetch() with the credentials the URL's route needs and a deadline. */
export function signedFetch(creds: Credentials, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${isAdminPath(new URL(url).pathname) ? creds.adminToken : creds.userToken}`);
  return fetch(url, { signal: AbortSignal.timeout(30_000), ...init, headers });
}

export interface TestAuth extends Credentials {
  readonly directory: AuthDirectory;
  readonly plane: LocalControlPlane;
  readonly http: HttpAuth;
  readonly user: string;
  readonly accessKey: string;
  readonly secretKey: string;
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

/** An in-process directory (local control plane) holding one user with a key and a token, and an admin token. */
export async function testAuth(user = 'alice'): Promise<TestAuth> {
  const plane = new LocalControlPlane(() => Date.now());
  const directory = new AuthDirectory(plane, new SecretBox([{ id: 'test', key: randomBytes(32) }]), () => Date.now());
  const c = generateCredentials(user);
  await directory.bootstrap(c);
  return {
    directory,
    plane,
    http: directoryAuth(directory, () => Date.now()),
    user,
    accessKey: c.accessKey,
    secretKey: c.secretKey,
    userToken: c.userToken,
    adminToken: c.adminToken,
    fetch: (url, init) => signedFetch(c, url, init),
  };
}
