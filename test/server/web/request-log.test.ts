/** The device log never holds the provider's authorization code, nor a token or state in any URL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import { csrfTokenOf, PAGE_PATHS, PanelClient, tokenLabelOf } from '../../../firmware-sim/panel-client.js';
import { urlForLog } from '../../../server/web/request-log.js';
import { bootDevice } from '../../helpers/device.js';

test('a real Get Token with a Google-shaped lab: the code and state the browser brings back are not in the device log', async () => {
  const lab = await startAuthorizationServer({ shape: 'google' });
  const device = await bootDevice(undefined, { MFP_LAB_GOOGLE_BASE: lab.baseUrl });
  try {
    await lab.addRedirectUri(`${device.device.url}/oauth/callback`);
    const panel = await device.panel();
    const account = 'printer@lab.example';
    const providerId = await panel.addProvider({ name: 'Example Workspace', type: 'google', clientId: lab.device.clientId, clientSecret: lab.device.clientSecret });
    await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: '2525', timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
    const page = await panel.get(PAGE_PATHS.smtp);
    const started = await panel.request('POST', `${PAGE_PATHS.smtp}/token/get`, { _csrf: csrfTokenOf(page.html), confirm: 'ok' }, 0);
    const callback = new URL(await lab.approveAuthorization(started.headers.get('location')!));
    const code = callback.searchParams.get('code')!;
    const state = callback.searchParams.get('state')!;
    assert.ok(code.length >= 16 && state.length >= 16);
    const back = await panel.get(callback.pathname + callback.search);
    assert.equal(tokenLabelOf(back.html), 'Obtained', 'the code did its job');

    const log = device.logs.join('\n');
    assert.match(log, /"url":"\/oauth\/callback\?\[hidden\]"/, 'the callback request is logged, without its query');
    assert.equal(log.includes(code), false, 'the authorization code is not in the log');
    assert.equal(log.includes(state), false, 'nor the state');
  } finally {
    await device.close();
    await lab.close();
  }
});

test('code, state and token parameters of any URL are hidden; the rest stays readable', () => {
  assert.equal(urlForLog('/settings/network/smtp?x=1&token=abc&Code=def&state=ghi&access%5Ftoken=jkl'), '/settings/network/smtp?x=1&token=[hidden]&Code=[hidden]&state=[hidden]&access%5Ftoken=[hidden]');
  assert.equal(urlForLog('/oauth/callback?error=access_denied&state=s'), '/oauth/callback?[hidden]');
  assert.equal(urlForLog('/login?loggedOut'), '/login?loggedOut');
  assert.equal(urlForLog('/'), '/');
});

/** The failed logins' log lines, parsed. */
async function failedLogins(logLevel: string): Promise<{ lines: Record<string, unknown>[]; log: string }> {
  const device = await bootDevice(undefined, { LOG_LEVEL: logLevel });
  try {
    const panel = new PanelClient(device.device.url);
    for (const password of ['wrong-password-1', 'wrong-password-2']) await panel.submit('/login', { user: 'admin', password });
    const lines = device.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    return { lines, log: device.logs.join('\n') };
  } finally {
    await device.close();
  }
}

test('a request\'s log lines name the request, at level warn (where most requests write none) as at debug', async () => {
  for (const level of ['warn', 'debug']) {
    const { lines, log } = await failedLogins(level);
    const failed = lines.filter((line) => line.msg === 'failed admin login');
    assert.equal(failed.length, 2, level);
    assert.match(String(failed[0]!.reqId), /^req-/, `${level}: the line names its request`);
    assert.notEqual(failed[0]!.reqId, failed[1]!.reqId, `${level}: each its own`);
    assert.equal(log.includes('wrong-password'), false, `${level}: the password entered is not in the log`);
    if (level === 'debug') {
      const sameRequest = lines.filter((line) => line.reqId === failed[0]!.reqId).map((line) => line.msg);
      assert.deepEqual(sameRequest, ['incoming request', 'failed admin login', 'request completed'], 'the request\'s other lines carry the same id');
    } else {
      assert.equal(lines.filter((line) => line.reqId !== undefined).length, 2, 'at warn the requests write nothing else');
    }
  }
});
