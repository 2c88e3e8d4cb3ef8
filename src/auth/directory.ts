// Users, their access keys and API tokens, and admin tokens, as the control
// plane holds them (issue 9 §2, issue 11 §2-4). Reads are local: a request
// never waits for Raft to find a key this node has applied. A key or token
// missing locally is confirmed with one ReadIndex barrier (Raft §6.4) before
// the answer is "unknown", so one created through another node works here at
// once. Writes are proposed; secrets are sealed (secret-box.ts) and tokens
// hashed (tokens.ts) before they are proposed, so the control state, its log
// and its backups never hold either in the clear, and no API returns them.

import { randomBytes } from 'node:crypto';
import type { AdminScope } from '../control/commands.js';
import type { ControlPlane } from '../control/plane.js';
import type { ApplyResult } from '../control/state.js';
import type { CredentialStore, KeySecret } from './credential-store.js';
import { AuthError, DirectoryError } from './errors.js';
import type { SecretBox } from './secret-box.js';
import { hashToken, mintToken, parseToken, sameHash, type MintedToken } from './tokens.js';

export const USER_RE = /^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,63}$/;
const ACCESS_KEY_RE = /^[A-Za-z0-9]{16,128}$/;

export interface AccessKeyInfo {
  readonly accessKey: string;
  readonly user: string;
  readonly createdMs: number;
}

export interface NewAccessKey extends AccessKeyInfo {
  /** Shown once, at creation; never stored in the clear nor returned again. */
  readonly secretKey: string;
}

export interface TokenInfo {
  readonly tokenId: string;
  readonly createdMs: number;
  /** 0 for never. */
  readonly expiresMs: number;
}

export interface UserTokenInfo extends TokenInfo {
  readonly user: string;
  readonly name: string;
}

export interface AdminTokenInfo extends TokenInfo {
  readonly scope: AdminScope;
}

/** What a cluster starts with: `ringstore dev` and a bootstrapping `ringstore server` generate it. */
export interface BootstrapCredentials {
  readonly user: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly userToken?: string;
  readonly adminToken?: string;
}

function refused(r: ApplyResult): never {
  if (r.ok) throw new Error('refused() of an accepted command');
  throw new DirectoryError(r.code, r.message);
}

export class AuthDirectory implements CredentialStore {
  /** Opened secrets by access key id, with the sealed form they came from (a re-keyed secret replaces its entry). */
  private readonly opened = new Map<string, { sealed: string; secret: string }>();

  constructor(
    private readonly plane: ControlPlane,
    private readonly box: SecretBox,
    private readonly now: () => number,
  ) {}

  private get state() {
    return this.plane.state;
  }

  private async propose(cmd: Parameters<ControlPlane['propose']>[0]): Promise<void> {
    const r = await this.plane.propose(cmd);
    if (!r.ok) refused(r);
  }

  /** User ids, sorted. */
  users(): string[] {
    return this.state.listUsers().map((u) => u.id);
  }

  // ------------------------------------------------------------ access keys

  async lookup(accessKey: string): Promise<KeySecret | undefined> {
    let k = this.state.accessKey(accessKey);
    if (k === undefined) {
      // Unknown here: maybe created through another node a moment ago (issue 9 §3).
      await this.plane.confirm();
      k = this.state.accessKey(accessKey);
      if (k === undefined) return undefined;
    }
    let hit = this.opened.get(accessKey);
    if (hit === undefined || hit.sealed !== k.secret) {
      hit = { sealed: k.secret, secret: this.box.open(k.secret, accessKey) };
      if (this.opened.size >= 10_000) this.opened.clear();
      this.opened.set(accessKey, hit);
    }
    return { secretKey: hit.secret, owner: k.user };
  }

  async ensureUser(user: string): Promise<void> {
    if (!USER_RE.test(user)) throw new DirectoryError('InvalidArgument', 'a user name is 1-64 characters of letters, digits and ._@+=-');
    if (this.state.user(user) === undefined) await this.propose({ type: 'putUser', user });
  }

  /** A new key pair for `user` (created if new); random unless given (bootstrap). */
  async createAccessKey(user: string, given?: { accessKey: string; secretKey: string }): Promise<NewAccessKey> {
    await this.ensureUser(user);
    const accessKey = given?.accessKey ?? 'RS' + randomBytes(9).toString('hex').toUpperCase();
    const secretKey = given?.secretKey ?? randomBytes(30).toString('base64url');
    if (!ACCESS_KEY_RE.test(accessKey)) throw new DirectoryError('InvalidArgument', 'an access key id is 16-128 letters and digits');
    if (secretKey.length < 16) throw new DirectoryError('InvalidArgument', 'a secret key has at least 16 characters');
    await this.propose({ type: 'putAccessKey', accessKeyId: accessKey, secret: this.box.seal(secretKey, accessKey), user });
    const k = this.state.accessKey(accessKey);
    return { accessKey, secretKey, user, createdMs: k?.createdAt ?? this.now() };
  }

  async deleteAccessKey(accessKey: string): Promise<void> {
    await this.propose({ type: 'deleteAccessKey', accessKeyId: accessKey });
    this.opened.delete(accessKey);
  }

  listAccessKeys(user?: string): AccessKeyInfo[] {
    return this.state.listAccessKeys(user).map((k) => ({ accessKey: k.accessKeyId, user: k.user, createdMs: k.createdAt }));
  }

  // ------------------------------------------------------------ user tokens

  async createUserToken(user: string, ttlMs: number, name = '', given?: string): Promise<UserTokenInfo & { token: string }> {
    await this.ensureUser(user);
    const t = given === undefined ? mintToken('user') : fromGiven(given, 'user');
    const expiresMs = ttlMs > 0 ? this.now() + ttlMs : 0;
    await this.propose({ type: 'putUserToken', tokenId: t.tokenId, tokenHash: t.tokenHash, user, expiresAt: expiresMs, name });
    return { token: t.token, tokenId: t.tokenId, user, name, createdMs: this.state.userToken(t.tokenId)?.createdAt ?? this.now(), expiresMs };
  }

  async revokeUserToken(tokenId: string, asUser?: string): Promise<void> {
    const t = this.state.userToken(tokenId);
    // Someone else's token is "not found" to a user: its existence is not theirs to learn.
    if (asUser !== undefined && t !== undefined && t.user !== asUser) throw new DirectoryError('NoSuchUserToken', `no user token ${tokenId}`);
    await this.propose({ type: 'revokeUserToken', tokenId });
  }

  listUserTokens(user?: string): UserTokenInfo[] {
    return this.state.listUserTokens(user).map((t) => ({ tokenId: t.tokenId, user: t.user, name: t.name, createdMs: t.createdAt, expiresMs: t.expiresAt }));
  }

  /** The user a native-API token acts as; refuses unknown, revoked and expired tokens. */
  async verifyUserToken(token: string): Promise<string> {
    const p = parseToken(token);
    if (p === undefined || p.kind !== 'user') {
      throw new AuthError('InvalidToken', p?.kind === 'admin' ? 'an admin token does not act as a user: use a user token (ringstore token create)' : 'not a ringstore user token (rsu_...)');
    }
    let t = this.state.userToken(p.tokenId);
    if (t === undefined) {
      await this.plane.confirm();
      t = this.state.userToken(p.tokenId);
    }
    if (t === undefined || !sameHash(t.tokenHash, hashToken(token))) throw new AuthError('InvalidToken', 'the token is unknown or revoked');
    if (t.expiresAt !== 0 && t.expiresAt <= this.now()) throw new AuthError('ExpiredToken', `the token expired at ${new Date(t.expiresAt).toISOString()}`);
    return t.user;
  }

  // ----------------------------------------------------------- admin tokens

  async createAdminToken(scope: AdminScope, ttlMs: number, given?: string): Promise<AdminTokenInfo & { token: string }> {
    const t = given === undefined ? mintToken('admin') : fromGiven(given, 'admin');
    const expiresMs = ttlMs > 0 ? this.now() + ttlMs : 0;
    await this.propose({ type: 'putAdminToken', tokenId: t.tokenId, tokenHash: t.tokenHash, scope, expiresAt: expiresMs });
    return { token: t.token, tokenId: t.tokenId, scope, createdMs: this.state.adminToken(t.tokenId)?.createdAt ?? this.now(), expiresMs };
  }

  async revokeAdminToken(tokenId: string): Promise<void> {
    await this.propose({ type: 'revokeAdminToken', tokenId });
  }

  listAdminTokens(): AdminTokenInfo[] {
    return this.state.listAdminTokens().map((t) => ({ tokenId: t.tokenId, scope: t.scope, createdMs: t.createdAt, expiresMs: t.expiresAt }));
  }

  /** Refuses a token that is unknown, revoked, expired, or lacks `need` ('admin' covers every scope). */
  async verifyAdminToken(token: string, need: AdminScope): Promise<AdminTokenInfo> {
    const p = parseToken(token);
    if (p === undefined || p.kind !== 'admin') {
      throw new AuthError('InvalidToken', p?.kind === 'user' ? 'a user token does not open admin routes: use an admin token (ringstore admin-token create)' : 'not a ringstore admin token (rsa_...)');
    }
    let t = this.state.adminToken(p.tokenId);
    if (t === undefined) {
      await this.plane.confirm();
      t = this.state.adminToken(p.tokenId);
    }
    if (t === undefined || !sameHash(t.tokenHash, hashToken(token))) throw new AuthError('InvalidToken', 'the admin token is unknown or revoked');
    if (t.expiresAt !== 0 && t.expiresAt <= this.now()) throw new AuthError('ExpiredToken', `the admin token expired at ${new Date(t.expiresAt).toISOString()}`);
    if (t.scope !== 'admin' && t.scope !== need) throw new AuthError('InsufficientScope', `this token's scope is ${t.scope}; this route needs ${need}`, { scope: t.scope, needed: need });
    return { tokenId: t.tokenId, scope: t.scope, createdMs: t.createdAt, expiresMs: t.expiresAt };
  }

  // ------------------------------------------------------------- bootstrap

  /**
   * Installs a new cluster's first credentials when the control state has
   * none of them yet. Idempotent: every node of a fresh cluster may call it,
   * and a restart does not resurrect what was since revoked once the state
   * is persistent (the key or token is then known, or its user is).
   */
  async bootstrap(c: BootstrapCredentials): Promise<void> {
    if (this.state.user(c.user) !== undefined) return;
    await this.createAccessKey(c.user, { accessKey: c.accessKey, secretKey: c.secretKey });
    if (c.userToken !== undefined) await this.createUserToken(c.user, 0, 'bootstrap', c.userToken);
    if (c.adminToken !== undefined) await this.createAdminToken('admin', 0, c.adminToken);
  }
}

function fromGiven(token: string, kind: 'user' | 'admin'): MintedToken {
  const p = parseToken(token);
  if (p === undefined || p.kind !== kind) throw new DirectoryError('InvalidArgument', `not a ringstore ${kind} token`);
  return { token, tokenId: p.tokenId, tokenHash: hashToken(token) };
}
