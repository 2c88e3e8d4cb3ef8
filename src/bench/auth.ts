// The benchmarks' credentials (issue 11): every request to a node carries the
// cluster's user token, or its admin token on admin routes, as the test
// suite's signing helper does (test/helpers/auth.ts).

let tokens: { userToken: string; adminToken: string } | undefined;

/** The cluster's tokens (cluster.json's user_token and admin_token, or a DevCluster's). */
export function useCredentials(c: { readonly userToken: string; readonly adminToken: string }): void {
  tokens = { userToken: c.userToken, adminToken: c.adminToken };
}

const ADMIN = /^\/(cluster|_faults|_antientropy|_s3|_auth|metrics)(\/|$)/;

/** The Authorization header a request to `url` needs (none before useCredentials). */
export function authHeader(url: URL | string): Record<string, string> {
  if (tokens === undefined) return {};
  const path = typeof url === 'string' ? new URL(url).pathname : url.pathname;
  return { authorization: `Bearer ${ADMIN.test(path) ? tokens.adminToken : tokens.userToken}` };
}
