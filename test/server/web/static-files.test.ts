/** The stylesheet, script and icon every page links: served before login, cached by the browser, nothing else. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { publicDir } from '../../../server/web/paths.js';
import { bootDevice, type TestDevice } from '../../helpers/device.js';

let device: TestDevice;
before(async () => {
  device = await bootDevice();
});
after(() => device.close());

test('the page assets load without a login, with their type, an hour of caching and an ETag that answers 304', async () => {
  for (const [name, type] of [['panel.css', 'text/css'], ['panel.js', 'text/javascript'], ['favicon.svg', 'image/svg+xml']] as const) {
    const response = await fetch(`${device.device.url}/static/${name}`);
    assert.equal(response.status, 200, name);
    assert.ok(response.headers.get('content-type')!.startsWith(type), `${name}: ${response.headers.get('content-type')}`);
    assert.equal(response.headers.get('cache-control'), 'public, max-age=3600');
    assert.ok(response.headers.get('x-content-type-options'), 'security headers on assets too');
    assert.equal(await response.text(), fs.readFileSync(`${publicDir}/${name}`, 'utf8'));
    const again = await fetch(`${device.device.url}/static/${name}`, { headers: { 'if-none-match': response.headers.get('etag')! } });
    assert.equal(again.status, 304);
  }
});

test('anything else under /static/ is not found (no directory listing, no way out of public/)', async () => {
  for (const path of ['/static/', '/static/nothing.css', '/static/..%2Fpackage.json', '/static/../package.json']) {
    const response = await fetch(`${device.device.url}${path}`, { redirect: 'manual' });
    assert.ok([404, 302].includes(response.status), `${path}: HTTP ${response.status}`);
    assert.ok(!(await response.text()).includes('"dependencies"'), path);
  }
});
