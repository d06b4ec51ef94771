/**
 * The device's HTTP client for providers (openid-client's customFetch over node:http): what openid-client
 * reads from an answer, the errors a page shows for a dead or slow provider, and — as `npm run device`
 * runs it — a whole Get Token without Node loading undici (10 MB the device cannot spare).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEVICE_MAIN, deviceEnv, deviceNodeFlags } from '../../../firmware-sim/device-process.js';
import { freePort } from '../../../firmware-sim/free-port.js';
import { PanelClient } from '../../../firmware-sim/panel-client.js';
import { providerFetch } from '../../../server/oauth/provider-http.js';
import { ADMIN_PASSWORD, configureOAuth, obtainToken, startLab, tempDir, type Lab } from '../../helpers/device.js';

describe('providerFetch', () => {
  let server: http.Server;
  let base: string;
  const seen: { method?: string; type?: string; body: string }[] = [];
  before(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        seen.push({ method: request.method, type: request.headers['content-type'], body });
        if (request.url === '/slow') return void setTimeout(() => response.end('{}'), 2_000);
        if (request.url === '/big') return void response.end('x'.repeat(2 * 1024 * 1024));
        response.writeHead(400, { 'content-type': 'application/json', 'WWW-Authenticate': 'Bearer' });
        response.end(JSON.stringify({ error: 'invalid_grant' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('posts a form and reads status, headers (any case) and JSON; the body reads once, clones read again', async () => {
    const response = await providerFetch(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token' }), headers: { accept: 'application/json' } });
    assert.deepEqual(seen.at(-1), { method: 'POST', type: 'application/x-www-form-urlencoded;charset=UTF-8', body: 'grant_type=refresh_token' });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer');
    assert.deepEqual(await response.clone().json(), { error: 'invalid_grant' });
    assert.deepEqual(await response.json(), { error: 'invalid_grant' });
    await assert.rejects(response.text(), TypeError);
  });

  test('a provider that is down: "fetch failed" with the socket error as its cause, as fetch says it', async () => {
    const port = await freePort();
    await assert.rejects(providerFetch(`http://127.0.0.1:${port}/token`), (err: Error) => err instanceof TypeError && err.message === 'fetch failed' && (err.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED');
  });

  test('a provider that does not answer in time: the time-out signal ends the request', async () => {
    await assert.rejects(providerFetch(`${base}/slow`, { signal: AbortSignal.timeout(200) }), { name: 'TimeoutError' });
  });

  test('an answer too big for a provider document is refused, not buffered', async () => {
    await assert.rejects(providerFetch(`${base}/big`), /fetch failed/);
  });
});

describe('the device process (npm run device) does a Get Token without loading undici', () => {
  let lab: Lab;
  let child: ChildProcess;
  const dataDir = tempDir();
  const probeFile = path.join(dataDir, 'modules.json');
  before(async () => {
    lab = await startLab();
  });
  after(async () => {
    if (child?.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await lab.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('Get Token, approve, Obtained; Node never loaded its fetch stack', async () => {
    const port = await freePort();
    const probe = fileURLToPath(new URL('../../helpers/module-probe.js', import.meta.url));
    child = spawn(process.execPath, [...deviceNodeFlags(), '--import', probe, DEVICE_MAIN], {
      env: { ...process.env, ...deviceEnv(), PORT: String(port), HTTPS_PORT: '0', HOST: '127.0.0.1', MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD, MFP_ALLOW_HTTP: '1', LOG_LEVEL: 'warn', MFP_MODULE_PROBE_FILE: probeFile },
      stdio: 'ignore',
    });
    const panel = new PanelClient(`http://127.0.0.1:${port}`);
    for (let tries = 0; ; tries++) {
      try {
        await panel.login(ADMIN_PASSWORD);
        break;
      } catch (err) {
        if (tries > 200 || child.exitCode !== null) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await configureOAuth(panel, lab);
    await obtainToken(panel, lab.auth);
    const before = fs.existsSync(probeFile);
    child.kill('SIGUSR2');
    for (let tries = 0; !fs.existsSync(probeFile) && tries < 100; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    const modules = JSON.parse(fs.readFileSync(probeFile, 'utf8')) as string[];
    assert.equal(before, false);
    assert.ok(modules.some((name) => name.includes('internal/tls')), 'the probe sees what the device loaded');
    assert.deepEqual(modules.filter((name) => name.includes('undici')), []);
  });
});
