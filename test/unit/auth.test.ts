// src/auth on a local control plane: secrets sealed at rest with key ids
// (rotation), tokens stored as hashes, the ReadIndex barrier before a key or
// token is declared unknown (issue 9 §3), admin scopes and expiry.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AuthDirectory } from '../../src/auth/directory.js';
import { SecretBox, SecretBoxError } from '../../src/auth/secret-box.js';
import { bearerToken, hashToken, mintToken, parseToken, parseTtl } from '../../src/auth/tokens.js';
import type { Command } from '../../src/control/commands.js';
import { LocalControlPlane, type ControlPlane } from '../../src/control/plane.js';
import type { ApplyResult, ControlState } from '../../src/control/state.js';

const key = (id: string) => ({ id, key: randomBytes(32) });

describe('SecretBox', () => {
  test('seals with the first key and its id, opens with any listed key, so cluster keys rotate without downtime', () => {
    const old = key('k1');
    const next = key('k2');
    const before = new SecretBox([old]);
    const sealed = before.seal('s3cret-value', 'AK1');
    assert.match(sealed, /^aesgcm:k1:/);
    assert.ok(!sealed.includes('s3cret-value'));
    const rotated = new SecretBox([next, old]);
    assert.equal(rotated.open(sealed, 'AK1'), 's3cret-value', 'the old key still opens');
    assert.match(rotated.seal('x', 'AK1'), /^aesgcm:k2:/, 'the new key seals');
    assert.throws(() => new SecretBox([next]).open(sealed, 'AK1'), (e: Error) => e instanceof SecretBoxError && /k1/.test(e.message));
  });

  test('a sealed secret is bound to its key id and refuses tampering', () => {
    const box = new SecretBox([key('k1')]);
    const sealed = box.seal('secret', 'AK1');
    assert.throws(() => box.open(sealed, 'AK2'), SecretBoxError, 'moved to another access key');
    const parts = sealed.split(':');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0]! ^= 1;
    assert.throws(() => box.open([...parts.slice(0, 3), body.toString('base64url')].join(':'), 'AK1'), SecretBoxError);
    assert.throws(() => box.open('plain text', 'AK1'), SecretBoxError);
  });
});

describe('tokens', () => {
  test('a minted token carries its kind and id; only its hash is meant to be stored', () => {
    const t = mintToken('user');
    assert.deepEqual(parseToken(t.token), { kind: 'user', tokenId: t.tokenId });
    assert.equal(t.tokenHash, hashToken(t.token));
    assert.ok(!t.tokenHash.includes(t.token.slice(-20)));
    assert.equal(parseToken(mintToken('admin').token)?.kind, 'admin');
    for (const bad of ['', 'rsu_', 'rsx_0123456789abcdef_' + 'a'.repeat(43), t.token + 'x', t.token.slice(1)]) assert.equal(parseToken(bad), undefined, bad);
    assert.equal(bearerToken(`Bearer ${t.token}`), t.token);
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(parseTtl('30d'), 30 * 86_400_000);
    assert.equal(parseTtl('never'), 0);
    assert.throws(() => parseTtl('30 days'));
  });
});

/** A plane whose state lags: proposals are applied only at the next confirm(), as on a follower that has not caught up yet. */
class LaggingPlane implements ControlPlane {
  readonly inner = new LocalControlPlane(() => Date.now());
  private pending: Command[] = [];
  confirms = 0;
  get state(): ControlState {
    return this.inner.state;
  }
  /** What another node proposed, not yet applied here. */
  elsewhere(cmd: Command): void {
    this.pending.push(cmd);
  }
  propose(cmd: Command): Promise<ApplyResult> {
    return this.inner.propose(cmd);
  }
  async confirm(): Promise<void> {
    this.confirms++;
    for (const c of this.pending.splice(0)) await this.inner.propose(c);
  }
  onApplied(l: (i: number) => void): () => void {
    return this.inner.onApplied(l);
  }
}

describe('AuthDirectory', () => {
  test('stores sealed secrets and token hashes only, and answers the secret to a signature check', async () => {
    const plane = new LocalControlPlane(() => Date.now());
    const dir = new AuthDirectory(plane, new SecretBox([key('k1')]), () => Date.now());
    const k = await dir.createAccessKey('alice');
    const t = await dir.createUserToken('alice', 0);
    const snapshot = new TextDecoder().decode(plane.state.snapshot());
    assert.ok(!snapshot.includes(k.secretKey), 'no secret key in the control state');
    assert.ok(!snapshot.includes(t.token), 'no token in the control state');
    assert.deepEqual(await dir.lookup(k.accessKey), { secretKey: k.secretKey, owner: 'alice' });
    assert.equal(await dir.verifyUserToken(t.token), 'alice');
    assert.ok(dir.listAccessKeys().every((x) => !('secretKey' in x)));
  });

  test('a key or token unknown here is confirmed with one ReadIndex before it is called unknown', async () => {
    const plane = new LaggingPlane();
    const box = new SecretBox([key('k1')]);
    const dir = new AuthDirectory(plane, box, () => Date.now());
    await dir.ensureUser('bob');
    const minted = mintToken('user');
    plane.elsewhere({ type: 'putAccessKey', accessKeyId: 'AKBOB0000000000001', secret: box.seal('bobs-secret-key-1', 'AKBOB0000000000001'), user: 'bob' });
    plane.elsewhere({ type: 'putUserToken', tokenId: minted.tokenId, tokenHash: minted.tokenHash, user: 'bob', expiresAt: 0 });
    assert.equal(plane.confirms, 0);
    assert.deepEqual(await dir.lookup('AKBOB0000000000001'), { secretKey: 'bobs-secret-key-1', owner: 'bob' });
    assert.equal(plane.confirms, 1, 'one barrier, then found');
    assert.equal(await dir.verifyUserToken(minted.token), 'bob');
    assert.equal(await dir.lookup('AKNOBODY0000000001'), undefined);
    assert.equal(plane.confirms, 2, 'a known key needs no barrier; an unknown one one each');
  });

  test('admin tokens: scope, expiry and revocation, each refused with its own code', async () => {
    let now = 1_000_000;
    const dir = new AuthDirectory(new LocalControlPlane(() => now), new SecretBox([key('k1')]), () => now);
    const admin = await dir.createAdminToken('admin', 0);
    const metrics = await dir.createAdminToken('metrics-read', 60_000);
    await dir.verifyAdminToken(admin.token, 'admin');
    await dir.verifyAdminToken(admin.token, 'metrics-read');
    await dir.verifyAdminToken(metrics.token, 'metrics-read');
    await assert.rejects(dir.verifyAdminToken(metrics.token, 'admin'), { code: 'InsufficientScope' });
    now += 60_001;
    await assert.rejects(dir.verifyAdminToken(metrics.token, 'metrics-read'), { code: 'ExpiredToken' });
    await dir.revokeAdminToken(admin.tokenId);
    await assert.rejects(dir.verifyAdminToken(admin.token, 'admin'), { code: 'InvalidToken' });
    await assert.rejects(dir.verifyAdminToken(mintToken('user').token, 'admin'), { code: 'InvalidToken' });
    await assert.rejects(dir.revokeAdminToken(admin.tokenId), { code: 'NoSuchAdminToken' });
  });

  test('bootstrap installs a new cluster\'s credentials once: a second call, and a restart after a revocation, change nothing', async () => {
    const plane = new LocalControlPlane(() => Date.now());
    const dir = new AuthDirectory(plane, new SecretBox([key('k1')]), () => Date.now());
    const c = { user: 'dev', accessKey: 'RSABCDEF0123456789', secretKey: 'a-long-enough-secret', userToken: mintToken('user').token, adminToken: mintToken('admin').token };
    await dir.bootstrap(c);
    const applied = plane.state.applied;
    await dir.bootstrap(c);
    assert.equal(plane.state.applied, applied, 'nothing proposed the second time');
    await dir.revokeAdminToken(parseToken(c.adminToken)!.tokenId);
    await dir.bootstrap(c);
    await assert.rejects(dir.verifyAdminToken(c.adminToken, 'admin'), { code: 'InvalidToken' });
  });
});

describe('the control state for credentials', () => {
  test('user tokens need their user, revoke once, and survive a snapshot; an old snapshot without scopes reads as full admin', async () => {
    const plane = new LocalControlPlane(() => 5);
    assert.equal((await plane.propose({ type: 'putUserToken', tokenId: 't1', tokenHash: 'h', user: 'ghost', expiresAt: 0 })).ok, false);
    await plane.propose({ type: 'putUser', user: 'amy' });
    assert.equal((await plane.propose({ type: 'putUserToken', tokenId: 't1', tokenHash: 'h', user: 'amy', expiresAt: 9, name: 'laptop' })).ok, true);
    await plane.propose({ type: 'putAdminToken', tokenId: 'a1', tokenHash: 'ha' });
    assert.deepEqual(plane.state.adminToken('a1'), { tokenId: 'a1', tokenHash: 'ha', scope: 'admin', expiresAt: 0, createdAt: 5 });
    const restored = (await import('../../src/control/state.js')).ControlState.restore(plane.state.snapshot());
    assert.deepEqual(restored.listUserTokens('amy'), plane.state.listUserTokens('amy'));
    assert.equal(restored.userToken('t1')?.name, 'laptop');
    const old = JSON.parse(new TextDecoder().decode(plane.state.snapshot())) as Record<string, unknown>;
    delete old['userTokens'];
    old['adminTokens'] = [{ tokenId: 'a0', tokenHash: 'x', createdAt: 1 }];
    const fromOld = (await import('../../src/control/state.js')).ControlState.restore(new TextEncoder().encode(JSON.stringify(old)));
    assert.equal(fromOld.adminToken('a0')?.scope, 'admin');
    assert.deepEqual(fromOld.listUserTokens(), []);
    assert.equal((await plane.propose({ type: 'revokeUserToken', tokenId: 't1' })).ok, true);
    const again = await plane.propose({ type: 'revokeUserToken', tokenId: 't1' });
    assert.ok(!again.ok && again.code === 'NoSuchUserToken');
    const bad = await plane.propose({ type: 'putAdminToken', tokenId: 'a2', tokenHash: 'h', scope: 'root' as never });
    assert.ok(!bad.ok && bad.code === 'InvalidCommand', 'an unknown scope is refused alike on every replica');
  });
});
