/** Sessions: what an anonymous visitor costs the device, the table's bounds, who a password change logs out, password guessing. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { csrfTokenOf, PanelClient, textOf } from '../../../firmware-sim/panel-client.js';
import { openDatabase } from '../../../server/db/database.js';
import { Signer } from '@fastify/cookie';
import { SqliteSessionStore, TOUCH_AFTER_MS } from '../../../server/web/plugins/session-store.js';
import { RememberingSigner } from '../../../server/web/plugins/sessions.js';
import { ADMIN_PASSWORD, bootDevice, tempDir, type TestDevice } from '../../helpers/device.js';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request from a chosen loopback address (the login limit is per client address). */
function rawRequest(base: string, method: string, path: string, options: { localAddress: string; agent: http.Agent; headers?: Record<string, string>; body?: string }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(new URL(path, base), { method, localAddress: options.localAddress, agent: options.agent, headers: options.headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

const sessionRows = (device: TestDevice) => (device.device.services.db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;

describe('an anonymous visitor stores nothing on the device', () => {
  let device: TestDevice;
  before(async () => {
    device = await bootDevice();
  });
  after(async () => device.close());

  test('1,000 login pages and 1,000 refused logins leave the session table as it was; the admin still logs in', async () => {
    const before = sessionRows(device);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const from = { localAddress: '127.0.0.3', agent };
    const base = device.device.url;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    try {
      const statuses = new Map<number, number>();
      const count = (answer: RawAnswer) => statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      for (let round = 0; round < 125; round++) {
        await Promise.all(Array.from({ length: 8 }, async (_, i) => {
          const page = await rawRequest(base, 'GET', '/login', from);
          count(page);
          const cookie = (page.headers['set-cookie'] ?? []).map((line) => line.split(';')[0]).join('; ');
          const token = csrfTokenOf(page.body);
          const bodies = [
            new URLSearchParams({ _csrf: token, user: 'admin', password: `guess-${round}-${i}` }).toString(), // wrong password (then the limit)
            new URLSearchParams({ user: 'admin', password: 'no-token' }).toString(), // no CSRF token
            new URLSearchParams({ _csrf: 'forged', user: 'admin', password: 'x' }).toString(),
            `_csrf=${token}&user=admin&user=root&password=x`, // a field twice
          ];
          count(await rawRequest(base, 'POST', '/login', { ...from, headers: { ...form, ...(i % 2 ? { cookie } : {}) }, body: bodies[i % bodies.length] }));
        }));
      }
      assert.equal([...statuses.values()].reduce((a, b) => a + b), 2000);
      assert.equal(statuses.get(200), 1000, 'every login page was shown');
      assert.ok(!statuses.has(500), `no 500s: ${JSON.stringify([...statuses])}`);
      assert.equal(sessionRows(device), before, 'no session row for anyone who is not logged in');
    } finally {
      agent.destroy();
    }
    // The refused logins came from 127.0.0.3; the admin at 127.0.0.1 is not slowed down by them.
    await device.panel();
    assert.equal(sessionRows(device), before + 1, 'one row: the admin who logged in');
  });

  test('logging out removes the session row and stores none for the login page that says so', async () => {
    const panel = await device.panel();
    const rows = sessionRows(device);
    const out = await panel.submit('/logout', {}, '/');
    assert.match(textOf(out.html), /You have logged out/);
    assert.equal(sessionRows(device), rows - 1);
    assert.equal((await panel.get('/')).url, '/login');
  });
});

describe('the session table is bounded', () => {
  test('expired sessions are swept; past the cap the least recently used are ended, and the log says so', async () => {
    const db = openDatabase(tempDir());
    const warnings: string[] = [];
    let now = Date.now();
    const store = new SqliteSessionStore(db, { maxAgeMs: 10 * 60_000, maxSessions: 3, log: { warn: (_obj, msg) => void warnings.push(msg ?? '') }, now: () => now });
    try {
      const save = async (id: string) => {
        store.set(id, { user: 'admin' } as never, (err) => assert.ifError(err));
        now += TOUCH_AFTER_MS + 1; // one use after another, each a little over a minute later
      };
      db.prepare('INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?)').run('expired', '{}', now - 1);
      assert.equal(store.sweep(), 1);
      for (const id of ['a', 'b', 'c']) await save(id);
      await save('a'); // used again: now the most recent
      assert.deepEqual(warnings, []);
      await save('d');
      const ids = (db.prepare('SELECT id FROM sessions ORDER BY id').all() as { id: string }[]).map((row) => row.id);
      assert.deepEqual(ids, ['a', 'c', 'd'], 'b, unused the longest, was ended');
      assert.match(warnings.join('\n'), /session table full/);

      // Ended by a password change: a request of one of them finishing afterwards does not write it back.
      assert.equal(store.destroyOthers('d'), 2);
      await save('a');
      assert.deepEqual((db.prepare('SELECT id FROM sessions').all() as { id: string }[]).map((row) => row.id), ['d']);
    } finally {
      store.close();
      db.close();
    }
  });

  test('a page that changes nothing writes nothing until its idle expiry would move by a minute; a change is written at once; idle past the expiry ends it', async () => {
    const db = openDatabase(tempDir());
    let now = Date.now();
    const maxAgeMs = 10 * 60_000;
    const store = new SqliteSessionStore(db, { maxAgeMs, log: { warn: () => undefined }, now: () => now });
    const row = () => db.prepare("SELECT data, expires_at FROM sessions WHERE id = 's'").get() as { data: string; expires_at: number };
    const save = (session: object) => store.set('s', session as never, (err) => assert.ifError(err));
    const load = () => new Promise<Record<string, unknown> | null | undefined>((resolve, reject) => store.get('s', (err, session) => (err ? reject(err) : resolve(session as never))));
    try {
      const first = now;
      save({ user: 'admin', cookie: { httpOnly: true } });
      assert.doesNotMatch(row().data, /httpOnly/, 'the cookie is not stored');
      now += TOUCH_AFTER_MS - 1_000;
      assert.equal((await load())?.user, 'admin');
      assert.equal(row().expires_at, first + maxAgeMs, 'read under a minute later: the row is not rewritten');
      now += 2_000;
      await load();
      assert.equal(row().expires_at, now + maxAgeMs, 'read over a minute later: the idle expiry moves on');
      save({ user: 'admin', pending: 'device-code' });
      assert.match(row().data, /device-code/, 'a changed session is written at once');
      assert.equal((await load())?.pending, 'device-code');

      // Read again after a restart (a new store on the same table): the same session.
      const restarted = new SqliteSessionStore(db, { maxAgeMs, log: { warn: () => undefined }, now: () => now });
      const reread = await new Promise<Record<string, unknown>>((resolve, reject) => restarted.get('s', (err, session) => (err ? reject(err) : resolve(session as never))));
      restarted.close();
      assert.equal(reread.pending, 'device-code');

      // Idle past the expiry (late by under a minute at most): the session is gone.
      now += maxAgeMs + 1;
      assert.equal(await load(), null);
      assert.equal(store.sweep(), 1);
      // Used again after that, the same id is stored anew.
      save({ user: 'admin' });
      assert.equal(row().expires_at, now + maxAgeMs);
      assert.equal((await load())?.user, 'admin');
    } finally {
      store.close();
      db.close();
    }
  });
});

describe('changing the admin password', () => {
  test('ends every other session; the one that changed it stays logged in', async () => {
    const device = await bootDevice();
    try {
      const here = await device.panel();
      const elsewhere = await device.panel();
      const changed = await here.submit('/settings/security/password', { current: ADMIN_PASSWORD, next: 'a-new-long-password', repeat: 'a-new-long-password' });
      assert.match(textOf(changed.html), /password has been changed/);
      assert.equal((await elsewhere.get('/settings/network/smtp')).url, '/login', 'the other browser is logged out');
      assert.equal((await here.get('/settings/network/smtp')).url, '/settings/network/smtp', 'this one is not');
      assert.equal(sessionRows(device), 1);
    } finally {
      await device.close();
    }
  });
});

describe('password guesses are limited, and only wrong passwords count', () => {
  let device: TestDevice;
  before(async () => {
    device = await bootDevice();
  });
  after(async () => device.close());

  test('six logins in a row and six forms without a CSRF token do not lock the admin out', async () => {
    for (let i = 0; i < 6; i++) await new PanelClient(device.device.url).login(ADMIN_PASSWORD);
    const stranger = new PanelClient(device.device.url);
    await stranger.get('/login');
    for (let i = 0; i < 6; i++) assert.equal((await stranger.request('POST', '/login', { user: 'admin', password: ADMIN_PASSWORD })).status, 403);
    await new PanelClient(device.device.url).login(ADMIN_PASSWORD);
  });

  test('the password page\'s "current password" is limited like the login: the sixth try waits, even when right, and changes nothing', async () => {
    const panel = await device.panel();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await panel.submit('/settings/security/password', { current: `guess-${i}`, next: 'a-new-long-password', repeat: 'a-new-long-password' })).status);
    const sixth = await panel.submit('/settings/security/password', { current: ADMIN_PASSWORD, next: 'a-new-long-password', repeat: 'a-new-long-password' });
    statuses.push(sixth.status);
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429]);
    assert.match(textOf(sixth.html), /Too many wrong passwords\. Wait \d+ seconds and try again/);
    assert.equal(await device.device.services.admin.verify('admin', ADMIN_PASSWORD), true, 'the password did not change');
    // The same budget as the login page: guessing here does not buy more guesses there.
    const login = await new PanelClient(device.device.url).submit('/login', { user: 'admin', password: ADMIN_PASSWORD });
    assert.equal(login.status, 429);
  });
});

describe('cookie signatures, remembered', () => {
  test('sign the same as the plain signer; a forged or altered cookie is refused after the real one was checked', () => {
    const secret = 'x'.repeat(32);
    const plain = new Signer(secret);
    const signer = new RememberingSigner(secret);
    const cookie = signer.sign('session-id-1');
    assert.equal(cookie, plain.sign('session-id-1'));
    assert.equal(signer.sign('session-id-1'), cookie, 'the second time, remembered');
    for (let round = 0; round < 2; round++) assert.deepEqual(signer.unsign(cookie), { valid: true, renew: false, value: 'session-id-1' });
    const forged = `${cookie.slice(0, -2)}AA`;
    assert.equal(signer.unsign(forged).valid, false);
    assert.equal(signer.unsign(`session-id-2${cookie.slice('session-id-1'.length)}`).valid, false, 'the signature of one id does not pass for another');
    assert.equal(new RememberingSigner('y'.repeat(32)).unsign(cookie).valid, false, 'another secret refuses it');
    // More cookies than it keeps: the oldest are checked in full again, still right.
    for (let i = 0; i < 100; i++) assert.equal(signer.unsign(signer.sign(`id-${i}`)).value, `id-${i}`);
    assert.equal(signer.unsign(cookie).value, 'session-id-1');
  });
});
