// The lab authorization server with a stateFile: a lab restarted on the same file (same port, same
// client secrets) still knows the grants and tokens of the one before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  discovery, ClientSecretPost, allowInsecureRequests, initiateDeviceAuthorization,
  pollDeviceAuthorizationGrant, refreshTokenGrant, ResponseBodyError,
} from 'openid-client';
import type { Configuration } from 'openid-client';
import { startAuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import type { AuthorizationServer, AuthorizationServerOptions, LabAccount } from '../../../firmware-sim/cloud/authorization-server.js';

const alice: LabAccount = { login: 'alice@lab.example', password: 'alice-pw', email: 'alice@lab.example' };
const bob: LabAccount = { login: 'bob@lab.example', password: 'bob-pw', email: 'bob@lab.example' };
const SCOPE = 'mail.smtp mail.pop offline_access';

let dir: string;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-idp-')); });
after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const open = new Set<AuthorizationServer>();
after(async () => { for (const as of open) await as.close(); });

// Every lab of one test: the same file, secrets and (after the first) port, as `npm start` again.
function labs(stateFile: string) {
  const fixed: AuthorizationServerOptions = {
    stateFile, accounts: [alice, bob], deviceInterval: 1,
    deviceClientSecret: 'device-secret-fixed', introspectorSecret: 'introspector-secret-fixed',
  };
  let port = 0;
  return async (): Promise<{ as: AuthorizationServer; config: Configuration }> => {
    const as = await startAuthorizationServer({ ...fixed, port });
    open.add(as);
    port = Number(new URL(as.baseUrl).port);
    const config = await discovery(new URL(as.issuer), as.device.clientId, undefined,
      ClientSecretPost(as.device.clientSecret), { execute: [allowInsecureRequests] });
    return { as, config };
  };
}

async function close(as: AuthorizationServer): Promise<void> {
  await as.close();
  open.delete(as);
  // let this process's fetch see its keep-alive sockets to the old lab closed before the next lab
  // takes the same port (else it may send the next request on one: "other side closed")
  await new Promise((resolve) => setTimeout(resolve, 50));
}

async function signIn(as: AuthorizationServer, config: Configuration, account: LabAccount) {
  const da = await initiateDeviceAuthorization(config, { scope: SCOPE });
  const poll = pollDeviceAuthorizationGrant(config, da, undefined, { signal: AbortSignal.timeout(10_000) });
  await as.approveDeviceCode(da.user_code, account);
  const tokens = await poll;
  assert.ok(tokens.refresh_token);
  return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
}

const invalidGrant = (err: unknown): boolean => err instanceof ResponseBodyError && err.error === 'invalid_grant';

test('a restarted lab keeps grants, access and refresh tokens; rotation, reuse detection and resetPassword still apply', async () => {
  const file = path.join(dir, 'restart', 'lab-idp.json');
  const start = labs(file);

  // run 1: two grants, one per account
  let { as, config } = await start();
  const a1 = await signIn(as, config, alice);
  const b1 = await signIn(as, config, bob);
  await close(as);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the store is readable by its owner only');
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['lab-idp.json'], 'no temp file left behind');

  // run 2: the old access token introspects active; the old refresh token works and rotates
  ({ as, config } = await start());
  const info = await as.introspect(a1.accessToken);
  assert.equal(info.active, true);
  assert.equal(info.email, alice.email);
  assert.equal(info.client_id, as.device.clientId);
  const a2 = await refreshTokenGrant(config, a1.refreshToken);
  assert.ok(a2.refresh_token);
  assert.notEqual(a2.refresh_token, a1.refreshToken, 'the refresh token rotates');
  assert.equal((await as.introspect(a2.access_token)).active, true);
  await close(as);

  // run 3: the refresh token of run 2 works; the one consumed in run 2 is still spent (and reusing
  // it revokes the grant's tokens, as oidc-provider's reuse detection does)
  ({ as, config } = await start());
  const a3 = await refreshTokenGrant(config, a2.refresh_token!);
  assert.ok(a3.refresh_token);
  assert.notEqual(a3.refresh_token, a2.refresh_token);
  await assert.rejects(refreshTokenGrant(config, a1.refreshToken), invalidGrant);
  await assert.rejects(refreshTokenGrant(config, a3.refresh_token!), invalidGrant);

  // bob's grant from run 1: usable, then resetPassword finds and destroys it
  const b3 = await refreshTokenGrant(config, b1.refreshToken);
  assert.equal(await as.resetPassword(bob.email), 1);
  await assert.rejects(refreshTokenGrant(config, b3.refresh_token!), invalidGrant);
  await close(as);

  // run 4: the destroyed grant stays destroyed
  ({ as, config } = await start());
  await assert.rejects(refreshTokenGrant(config, b3.refresh_token!), invalidGrant);
  assert.equal(await as.resetPassword(bob.email), 0);
  await close(as);
});

test('an entry whose expiry has passed is not loaded again', async () => {
  const file = path.join(dir, 'expiry.json');
  const start = labs(file);
  let { as, config } = await start();
  const t = await signIn(as, config, alice);
  await close(as);

  // Age the access token's entry in the file (its payload's own `exp` stays in the future, so only
  // the store's expiry can drop it).
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: { model: string; id: string; expiresAt: number | null }[] };
  const entry = data.entries.find((e) => e.model === 'AccessToken' && e.id === t.accessToken);
  assert.ok(entry, 'the access token is in the file');
  entry.expiresAt = Date.now() - 1000;
  fs.writeFileSync(file, JSON.stringify(data), { mode: 0o600 });

  ({ as, config } = await start());
  assert.equal((await as.introspect(t.accessToken)).active, false);
  // the refresh token was not aged: still good
  const next = await refreshTokenGrant(config, t.refreshToken);
  await close(as);
  const after = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: { model: string; id: string }[] };
  assert.equal(after.entries.some((e) => e.id === t.accessToken), false, 'the expired entry left the file');
  assert.equal(after.entries.some((e) => e.model === 'AccessToken' && e.id === next.access_token), true);
});

test('without a stateFile the lab writes no file', async () => {
  const before = fs.readdirSync(dir);
  const as = await startAuthorizationServer({ deviceInterval: 1 });
  open.add(as);
  const config = await discovery(new URL(as.issuer), as.device.clientId, undefined,
    ClientSecretPost(as.device.clientSecret), { execute: [allowInsecureRequests] });
  const da = await initiateDeviceAuthorization(config, { scope: SCOPE });
  assert.ok(da.user_code);
  await close(as);
  assert.deepEqual(fs.readdirSync(dir), before);
});

test('what a restarted lab knows comes from the file (not from memory left in the process)', async () => {
  const file = path.join(dir, 'removed.json');
  const start = labs(file);
  let { as, config } = await start();
  const t = await signIn(as, config, alice);
  await close(as);
  fs.rmSync(file);
  ({ as, config } = await start());
  assert.equal((await as.introspect(t.accessToken)).active, false);
  await assert.rejects(refreshTokenGrant(config, t.refreshToken), invalidGrant);
  await close(as);
});
