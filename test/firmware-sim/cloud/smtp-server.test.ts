// The lab SMTP server: nodemailer (what the printer uses) against smtp-server checking XOAUTH2
// tokens at the lab authorization server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import type { Transporter, TransportOptions } from 'nodemailer';
import {
  discovery, ClientSecretPost, allowInsecureRequests, clientCredentialsGrant, tokenRevocation,
  initiateDeviceAuthorization, pollDeviceAuthorizationGrant,
} from 'openid-client';
import type { Configuration } from 'openid-client';
import { startAuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import type { AuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import { startSmtpLab } from '../../../firmware-sim/cloud/smtp-server.js';
import type { SmtpLab } from '../../../firmware-sim/cloud/smtp-server.js';

const USER = 'printer@lab.example';
let as: AuthorizationServer;
let config: Configuration;
let smtp: SmtpLab;

before(async () => {
  as = await startAuthorizationServer();
  config = await discovery(new URL(as.issuer), as.device.clientId, undefined,
    ClientSecretPost(as.device.clientSecret), { execute: [allowInsecureRequests] });
  smtp = await startSmtpLab({ authorizationServer: as, passwords: { 'scanner@lab.example': 'scan-pass' } });
});

after(async () => {
  await smtp?.close();
  await as?.close();
});

async function appToken(scope = 'mail.smtp'): Promise<string> {
  return (await clientCredentialsGrant(config, { scope })).access_token;
}

function transport(auth: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port, secure: false, auth, ...extra } as TransportOptions);
}

function mail(n = 0) {
  return { from: USER, to: 'someone@lab.example', subject: `Scan ${n}`, text: `scanned page ${n}` };
}

interface SmtpFailure { code?: string; responseCode?: number; response?: string }

async function sendFails(t: Transporter, m = mail()): Promise<SmtpFailure> {
  try {
    await t.sendMail(m);
  } catch (err) {
    return err as SmtpFailure;
  } finally {
    t.close();
  }
  throw new Error('sendMail succeeded but should have failed');
}

test('a user token from the device flow delivers a mail over XOAUTH2', async () => {
  const da = await initiateDeviceAuthorization(config, { scope: 'mail.smtp mail.pop offline_access' });
  const poll = pollDeviceAuthorizationGrant(config, da, undefined, { signal: AbortSignal.timeout(10_000) });
  await as.approveDeviceCode(da.user_code);
  const tokens = await poll;

  const before = smtp.received.length;
  const t = transport({ type: 'OAuth2', user: USER, accessToken: tokens.access_token });
  const info = await t.sendMail(mail(1));
  t.close();
  assert.deepEqual(info.accepted, ['someone@lab.example']);
  const got = smtp.received[before]!;
  assert.equal(got.user, USER);
  assert.equal(got.from, USER);
  assert.deepEqual(got.to, ['someone@lab.example']);
  assert.match(got.raw.toString(), /Subject: Scan 1/);
  assert.ok(got.sessionId);
  assert.deepEqual(smtp.authAttempts.at(-1), { method: 'XOAUTH2', user: USER, ok: true });
});

test('a revoked token is refused: EAUTH 535', async () => {
  const token = await appToken();
  await tokenRevocation(config, token);
  const err = await sendFails(transport({ type: 'OAuth2', user: USER, accessToken: token }));
  assert.equal(err.code, 'EAUTH');
  assert.equal(err.responseCode, 535);
  const attempt = smtp.authAttempts.at(-1)!;
  assert.equal(attempt.ok, false);
  assert.equal(attempt.reason, 'token inactive');
  assert.match(attempt.reply ?? '', /^334 .*"status":"401"/);
});

test('a token for another user is refused', async () => {
  const err = await sendFails(transport({ type: 'OAuth2', user: 'boss@lab.example', accessToken: await appToken() }));
  assert.equal(err.code, 'EAUTH');
  assert.equal(err.responseCode, 535);
  assert.equal(smtp.authAttempts.at(-1)?.reason, 'user does not match the token');
});

test('a token without the smtp scope is refused', async () => {
  const err = await sendFails(transport({ type: 'OAuth2', user: USER, accessToken: await appToken('mail.pop') }));
  assert.equal(err.responseCode, 535);
  assert.equal(smtp.authAttempts.at(-1)?.reason, 'token lacks scope mail.smtp');
});

test('a fault reply reaches nodemailer as it was given (535 5.7.139)', async () => {
  const reply = '535 5.7.139 Authentication unsuccessful, SMTP client authentication is disabled for the Tenant.';
  smtp.setFault({ reply, count: 1 });
  const err = await sendFails(transport({ type: 'OAuth2', user: USER, accessToken: await appToken() }));
  assert.equal(err.code, 'EAUTH');
  assert.equal(err.responseCode, 535);
  assert.equal(err.response, reply);
  // count 1: the next one goes through
  const t = transport({ type: 'OAuth2', user: USER, accessToken: await appToken() });
  await t.sendMail(mail());
  t.close();
});

test('a fault on RCPT answers that step only', async () => {
  smtp.setFault({ reply: '550 5.7.60 SMTP; Client does not have permissions to send as this sender', on: 'rcpt', count: 1 });
  const err = await sendFails(transport({ type: 'OAuth2', user: USER, accessToken: await appToken() }));
  assert.equal(err.code, 'EENVELOPE');
  assert.equal(err.responseCode, 550);
});

test('a dropped connection surfaces as a connection error, not an auth error', async () => {
  smtp.setFault({ kind: 'drop', count: 1 });
  const err = await sendFails(transport({ type: 'OAuth2', user: USER, accessToken: await appToken() }));
  assert.notEqual(err.code, 'EAUTH');
  assert.equal(err.responseCode, undefined);
});

test('an introspection failure is temporary (454), not a bad token', async () => {
  const lab = await startSmtpLab({ authorizationServer: { introspect: () => Promise.reject(new Error('down')) } });
  try {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: lab.port, secure: false, auth: { type: 'OAuth2', user: USER, accessToken: 'x' } });
    const err = await sendFails(t);
    assert.equal(err.code, 'EAUTH');
    assert.equal(err.responseCode, 454);
  } finally {
    await lab.close();
  }
});

test('PLAIN/LOGIN with a lab password (when passwords are configured)', async () => {
  const t = transport({ user: 'scanner@lab.example', pass: 'scan-pass' });
  await t.sendMail({ ...mail(), from: 'scanner@lab.example' });
  t.close();
  assert.equal(smtp.authAttempts.at(-1)?.ok, true);
  const err = await sendFails(transport({ user: 'scanner@lab.example', pass: 'nope' }));
  assert.equal(err.responseCode, 535);
});

test('pool: 5 mails over one pooled connection open one TCP connection', async () => {
  const lab = await startSmtpLab({ authorizationServer: as });
  try {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: lab.port, secure: false, pool: true, maxConnections: 1,
      auth: { type: 'OAuth2', user: USER, accessToken: await appToken() },
    });
    await Promise.all([0, 1, 2, 3, 4].map((n) => t.sendMail(mail(n))));
    t.close();
    assert.equal(lab.received.length, 5);
    assert.equal(lab.connections, 1);
    assert.equal(lab.authAttempts.length, 1);
  } finally {
    await lab.close();
  }
});

test('a slow fault delays the next step', async () => {
  const token = await appToken();
  smtp.setFault({ kind: 'slow', ms: 300, count: 1 });
  const t = transport({ type: 'OAuth2', user: USER, accessToken: token });
  const started = Date.now();
  await t.sendMail(mail());
  t.close();
  assert.ok(Date.now() - started >= 300);
});

test('close() ends open sessions promptly', async () => {
  const lab = await startSmtpLab({ authorizationServer: as });
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port: lab.port, secure: false, pool: true, maxConnections: 1,
    auth: { type: 'OAuth2', user: USER, accessToken: await appToken() },
  });
  t.on('error', () => {}); // the pool sees the server hang up
  await t.sendMail(mail());
  const started = Date.now();
  await lab.close();
  t.close();
  assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
});
