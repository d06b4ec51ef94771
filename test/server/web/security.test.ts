/** Login, session, CSRF, rate limiting and headers, through real HTTP against a booted device. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { csrfTokenOf, PanelClient, textOf } from '../../../firmware-sim/panel-client.js';
import { ADMIN_PASSWORD, bootDevice, tempDir, type TestDevice } from '../../helpers/device.js';

describe('admin login and session', () => {
  let device: TestDevice;
  before(async () => {
    device = await bootDevice();
  });
  after(async () => device.close());

  test('every page but the login page sends a stranger to the login page; the API answers 401', async () => {
    const stranger = new PanelClient(device.device.url);
    for (const path of ['/', '/settings/network/smtp', '/settings/system/email-status', '/settings/network/oauth-servers', '/settings/system/token-events']) {
      const page = await stranger.get(path);
      assert.equal(page.url, '/login', `${path} redirects to the login page`);
    }
    assert.equal((await stranger.json('/api/token-status/smtp')).status, 401);
  });

  test('a wrong password is refused with a message; the right one opens the panel with a secure session cookie', async () => {
    const panel = new PanelClient(device.device.url);
    const wrong = await panel.submit('/login', { user: 'admin', password: 'nope' });
    assert.equal(wrong.status, 401);
    assert.match(textOf(wrong.html), /The user name or password is not correct/);
    const raw = await fetch(new URL('/login', device.device.url));
    const csrf = csrfTokenOf(await raw.text());
    const cookie = raw.headers.getSetCookie()[0]!.split(';')[0]!;
    const login = await fetch(new URL('/login', device.device.url), {
      method: 'POST', redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, user: 'admin', password: ADMIN_PASSWORD }),
    });
    assert.equal(login.status, 302);
    const setCookie = login.headers.getSetCookie().join('\n');
    assert.match(setCookie, /HttpOnly/i);
    // Lax: the provider's redirect back to /oauth/callback must carry the session; forms carry CSRF tokens.
    assert.match(setCookie, /SameSite=Lax/i);
    assert.notEqual(setCookie.split(';')[0], cookie, 'a new session id at login');
  });

  test('a form posted without or with a wrong CSRF token is refused and changes nothing', async () => {
    const panel = await device.panel();
    const before = await panel.get('/settings/network/smtp');
    for (const csrf of [undefined, 'forged-token']) {
      const response = await panel.request('POST', '/settings/network/smtp', {
        ...(csrf ? { _csrf: csrf } : {}), primaryServer: 'evil.example', port: '25', timeout: '20', senderAddress: 'a@evil.example', ssl: 'none', authMethod: 'none',
      });
      assert.equal(response.status, 403);
      assert.match(textOf(response.html), /did not come from this panel/);
    }
    assert.equal((await panel.get('/settings/network/smtp')).html.includes('evil.example'), false);
    assert.ok(before.html.includes('name="_csrf"'));
  });

  test('/favicon.ico answers the panel icon to anyone, cacheable, without a login redirect', async () => {
    const response = await fetch(new URL('/favicon.ico', device.device.url), { redirect: 'manual' });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.match(response.headers.get('cache-control') ?? '', /max-age=86400/);
    assert.doesNotMatch(response.headers.get('cache-control') ?? '', /no-store/);
    assert.equal(await response.text(), fs.readFileSync(new URL('../../../../public/favicon.svg', import.meta.url), 'utf8'));
  });

  test('security headers are set on every page', async () => {
    for (const path of ['/', '/static/panel.css']) {
      const headers = (await fetch(new URL(path, device.device.url), { redirect: 'manual' })).headers;
      for (const feature of ['camera', 'microphone', 'geolocation', 'usb']) assert.match(headers.get('permissions-policy') ?? '', new RegExp(`\\b${feature}=\\(\\)`), `${path}: ${feature} denied`);
    }
    const response = await fetch(new URL('/login', device.device.url));
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(response.headers.get('cache-control'), 'no-store');
  });

  test('logout ends the session', async () => {
    const panel = await device.panel();
    const out = await panel.submit('/logout', {}, '/');
    assert.match(textOf(out.html), /You have logged out/);
    assert.equal((await panel.get('/')).url, '/login');
  });
});

describe('failed logins are rate-limited', () => {
  test('the sixth login within a minute is refused with a wait message', async () => {
    const device = await bootDevice();
    try {
      const panel = new PanelClient(device.device.url);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await panel.submit('/login', { user: 'admin', password: `guess-${i}` })).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
      assert.match(textOf(panel.lastHtml), /Too many failed logins\. Wait \d+ seconds/);
    } finally {
      await device.close();
    }
  });
});

describe('the admin password', () => {
  test('generated at first boot when none is given, stored only as a hash', async () => {
    const dir = tempDir();
    const device = await bootDevice(dir, { MFP_ADMIN_PASSWORD: '' });
    try {
      const generated = device.device.generatedAdminPassword;
      assert.match(generated ?? '', /^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
      await new PanelClient(device.device.url).login(generated!);
      const db = fs.readFileSync(path.join(dir, 'device.db'));
      assert.equal(db.includes(Buffer.from(generated!)), false, 'the password is not stored in clear');
      const key = fs.statSync(path.join(dir, 'device.key'));
      assert.equal(key.mode & 0o777, 0o600, 'the device key file is private');
    } finally {
      await device.close();
    }
  });

  test('the admin can change it; the old one stops working and the change survives a restart', async () => {
    let device = await bootDevice();
    try {
      const panel = await device.panel();
      const wrong = await panel.submit('/settings/security/password', { current: 'not-it', next: 'short', repeat: 'short' });
      assert.equal(wrong.status, 400);
      assert.match(textOf(wrong.html), /current password is not correct/);
      assert.match(textOf(wrong.html), /at least 10 characters/);
      const ok = await panel.submit('/settings/security/password', { current: ADMIN_PASSWORD, next: 'a-new-long-password', repeat: 'a-new-long-password' });
      assert.match(textOf(ok.html), /password has been changed/);
      device = await device.restart();
      await assert.rejects(new PanelClient(device.device.url).login(ADMIN_PASSWORD));
      await new PanelClient(device.device.url).login('a-new-long-password');
    } finally {
      await device.close();
    }
  });
});
