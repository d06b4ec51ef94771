/** Every form route refuses a field sent twice and a JSON body with 400 and a message, and changes nothing. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { csrfTokenOf, PanelClient, textOf } from '../../../firmware-sim/panel-client.js';
import { discoverForms, type PanelForm } from '../../../firmware-sim/soak/forms.js';
import { bootDevice, configureOAuth, startLab, type Lab, type TestDevice } from '../../helpers/device.js';

/** The POST routes the app has, as patterns (/settings/network/oauth-servers/:id/test), from its route table. */
function postRoutes(device: TestDevice): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of device.device.app.printRoutes({ method: 'POST', commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    if (line.includes('(POST)')) routes.push(stack.join(''));
  }
  return routes;
}

const pattern = (action: string) => action.replace(/\/\d+(?=\/|$)/g, '/:id');

/** What a refused form must leave alone: settings, providers, tokens, outbox, the admin password. */
function stateDigest(device: TestDevice): string {
  const { db } = device.device.services;
  const tables = ['settings', 'providers', 'credentials', 'outbox', 'admin'].map((table) => db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all());
  return crypto.createHash('sha256').update(JSON.stringify(tables)).digest('hex');
}

describe('form bodies are checked for every route', () => {
  let lab: Lab;
  let device: TestDevice;
  let panel: PanelClient;
  let forms: PanelForm[];
  before(async () => {
    lab = await startLab();
    device = await bootDevice();
    panel = await device.panel();
    await configureOAuth(panel, lab, { pop: true });
    // A held job, so the home page shows the outbox's Retry and Delete.
    device.device.services.sender.enqueue({ kind: 'other', to: ['someone@lab.example'], subject: 'held', text: 'held' });
    forms = await discoverForms(panel);
  });
  after(async () => {
    await device?.close();
    await lab?.close();
  });

  test('the pages offer a form for every POST route (login aside), so the checks below cover them all', () => {
    const found = new Set([...forms.map((form) => pattern(form.action)), '/login']);
    assert.deepEqual(postRoutes(device).filter((route) => !found.has(route)), []);
  });

  test('a field sent twice: 400, a message naming the field, a link back to the form, nothing changed', async () => {
    const before = stateDigest(device);
    for (const form of forms) {
      const csrf = csrfTokenOf((await panel.get(form.page)).html);
      const [field] = Object.keys(form.fields).filter((name) => name !== '_csrf').concat('_csrf');
      const body = new URLSearchParams({ ...form.fields, _csrf: csrf });
      body.append(field!, 'again');
      const answer = await fetch(new URL(form.action, device.device.url), {
        method: 'POST', redirect: 'manual', body,
        headers: { cookie: panel.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      });
      const html = await answer.text();
      assert.equal(answer.status, 400, `${form.action} with ${field} twice`);
      assert.match(textOf(html), new RegExp(`The field "${field}" was sent more than once\\. Nothing was changed`), form.action);
      const back = /<a href="([^"]+)">Back to the form<\/a>/.exec(html)?.[1];
      assert.ok(back && (back === form.page || form.action.startsWith(back)), `${form.action}: a link back to its page, not ${back}`);
      assert.equal((await panel.get(back)).url, back, `${back} is a page`);
    }
    assert.equal(stateDigest(device), before);
    assert.equal((await panel.get('/')).url, '/', 'still logged in (the logout form was refused too)');
  });

  test('a JSON body, even with the right CSRF token: 400 with a message, nothing changed', async () => {
    const before = stateDigest(device);
    for (const form of forms) {
      const csrf = csrfTokenOf((await panel.get(form.page)).html);
      const answer = await fetch(new URL(form.action, device.device.url), {
        method: 'POST', redirect: 'manual',
        body: JSON.stringify({ ...form.fields, _csrf: csrf, confirm: 'ok', current: ['x'], testTo: { to: 'x' } }),
        headers: { cookie: panel.cookieHeader(), 'content-type': 'application/json', accept: 'text/html' },
      });
      assert.equal(answer.status, 400, form.action);
      assert.match(textOf(await answer.text()), /This panel takes forms as a browser sends them, not as application\/json\. Nothing was changed/);
    }
    assert.equal(stateDigest(device), before);
  });

  test('the login form too, for a visitor: a doubled field and JSON are 400, and no session is stored', async () => {
    const rows = () => device.device.services.db.prepare('SELECT COUNT(*) AS n FROM sessions').get();
    const before = rows();
    const stranger = new PanelClient(device.device.url);
    const csrf = csrfTokenOf((await stranger.get('/login')).html);
    const doubled = await stranger.request('POST', '/login', { _csrf: csrf, user: 'admin', password: 'x' });
    assert.equal(doubled.status, 401, 'the ordinary answer first, for comparison');
    const twice = await fetch(new URL('/login', device.device.url), {
      method: 'POST', body: `_csrf=${encodeURIComponent(csrf)}&user=admin&password=a&password=b`,
      headers: { cookie: stranger.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(twice.status, 400);
    assert.match(textOf(await twice.text()), /The field "password" was sent more than once/);
    const json = await fetch(new URL('/login', device.device.url), { method: 'POST', body: '{"user":"admin"}', headers: { cookie: stranger.cookieHeader(), 'content-type': 'application/json' } });
    assert.equal(json.status, 400);
    assert.deepEqual(rows(), before);
  });
});
