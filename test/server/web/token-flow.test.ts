/**
 * Get Token end to end: the device asks a real authorization server (oidc-provider on loopback) for a
 * device code, a person approves it through the provider's HTML pages, and both pages show the result.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PAGE_PATHS, tokenLabelOf, textOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import { bootDevice, configureOAuth, obtainToken, requestUserCode, startLab, type Lab, type TestDevice } from '../../helpers/device.js';

function storedTokens(device: TestDevice, providerId: string, account: string) {
  const row = device.device.services.db.prepare('SELECT access_token_enc, refresh_token_enc FROM credentials WHERE provider_id = ? AND account = ?').get(Number(providerId), account) as
    | { access_token_enc: string | null; refresh_token_enc: string | null }
    | undefined;
  const box = device.device.services.box;
  return { access: box.openOptional(row?.access_token_enc), refresh: box.openOptional(row?.refresh_token_enc), sealedAccess: row?.access_token_enc ?? undefined };
}

describe('Get Token with the device authorization grant', () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab({ deviceCodeTtl: 600 });
  });
  after(async () => lab.close());

  test('approve → Obtained on SMTP and POP → Delete on POP → Not obtained on both, revoked at the provider', async () => {
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      const providerId = await configureOAuth(panel, lab, { pop: true });
      const account = lab.auth.accounts[0]!.email;

      let smtpPage = await panel.get(PAGE_PATHS.smtp);
      assert.equal(tokenLabelOf(smtpPage.html), 'Not obtained');

      // Get Token asks for confirmation first, and says the token will serve POP too.
      const confirm = await panel.submit(`${PAGE_PATHS.smtp}/token/get`, {}, PAGE_PATHS.smtp);
      assert.match(textOf(confirm.html), /Ask Lab IdP for a token for printer@lab\.example\?/);
      assert.match(textOf(confirm.html), /also serve the E-mail Status setting/);
      assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.smtp)).html), 'Not obtained', 'nothing happens before OK');

      smtpPage = await panel.getToken('smtp');
      assert.equal(tokenLabelOf(smtpPage.html), 'Awaiting authorization');
      const status = await panel.tokenStatus('smtp');
      assert.ok(status.pending, 'the JSON status carries the user code');
      const text = textOf(smtpPage.html);
      assert.ok(text.includes(status.pending.userCode), 'the page shows the user code');
      assert.ok(smtpPage.html.includes(`href="${status.pending.verificationUriComplete ?? status.pending.verificationUri}"`), 'the verification URL is a link');
      assert.match(text, /Time left: (9|10) min/);
      assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.pop)).html), 'Awaiting authorization', 'POP shares the pending authorization');

      await lab.auth.approveDeviceCode(status.pending.userCode);
      await panel.waitForState('smtp', ['obtained'], 15_000);
      assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.smtp)).html), 'Obtained');
      const popPage = await panel.get(PAGE_PATHS.pop);
      assert.equal(tokenLabelOf(popPage.html), 'Obtained', 'obtaining on SMTP updates POP');
      assert.match(textOf(popPage.html), /shared with the SMTP setting/);

      // One token with both scopes, stored encrypted.
      const tokens = storedTokens(device, providerId, account);
      assert.ok(tokens.access && tokens.refresh, 'access and refresh token stored');
      assert.ok(!tokens.sealedAccess!.includes(tokens.access!), 'stored sealed, not in plain text');
      const introspection = await lab.auth.introspect(tokens.access!);
      assert.equal(introspection.active, true);
      assert.deepEqual(introspection.scope?.split(' ').sort(), ['mail.pop', 'mail.smtp']);

      // Delete from the POP page: the confirmation warns that SMTP uses the same token.
      const deleteConfirm = await panel.submit(`${PAGE_PATHS.pop}/token/delete`, {}, PAGE_PATHS.pop);
      assert.match(textOf(deleteConfirm.html), /Warning: the SMTP setting uses the same token/);
      const afterDelete = await panel.deleteToken('pop');
      assert.equal(tokenLabelOf(afterDelete.html), 'Not obtained');
      assert.match(textOf(afterDelete.html), /The token has been deleted/);
      assert.equal(tokenLabelOf((await panel.get(PAGE_PATHS.smtp)).html), 'Not obtained');
      assert.equal((await lab.auth.introspect(tokens.access!)).active, false, 'revoked at the provider');
      assert.equal(storedTokens(device, providerId, account).access, undefined, 'removed from the device');

      const events = textOf((await panel.get('/settings/system/token-events')).html);
      for (const label of ['Token requested', 'Token obtained', 'Token deleted']) assert.ok(events.includes(label), `event log lists "${label}"`);
    } finally {
      await device.close();
    }
  });

  test('the device honours slow_down: it waits 5 s longer before it polls again, and still obtains the token', async () => {
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      await configureOAuth(panel, lab);
      const userCode = await requestUserCode(panel);
      lab.auth.setFault({ kind: 'slow_down', endpoint: 'token', count: 1 });
      // The next poll (1 s interval) is told to slow down; approval happens right after it.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await lab.auth.approveDeviceCode(userCode);
      const approvedAt = Date.now();
      assert.equal((await panel.tokenStatus('smtp')).state, 'awaiting_authorization');
      await panel.waitForState('smtp', ['obtained'], 20_000);
      // 1 s interval + 5 s for slow_down: without honouring it the token would come within ~1 s.
      assert.ok(Date.now() - approvedAt >= 3_500, `obtained after ${Date.now() - approvedAt} ms: slow_down was not honoured`);
    } finally {
      lab.auth.setFault(null);
      await device.close();
    }
  });

  test('declined at the provider → Not obtained with the reason and what to do', async () => {
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      await configureOAuth(panel, lab);
      const userCode = await requestUserCode(panel);
      await lab.auth.denyDeviceCode(userCode);
      const status = await panel.waitForState('smtp', ['not_obtained'], 15_000);
      assert.match(status.reason ?? '', /declined at the provider/);
      const page = textOf((await panel.get(PAGE_PATHS.smtp)).html);
      assert.match(page, /Token: Not obtained/);
      assert.match(page, /What to do: Press Get Token again/);
      assert.match(textOf((await panel.get('/settings/system/token-events')).html), /Authorization denied/);
    } finally {
      await device.close();
    }
  });

  test('restart while Awaiting authorization resumes polling and the token is still obtained', async () => {
    let device = await bootDevice();
    try {
      let panel = await device.panel();
      await configureOAuth(panel, lab);
      const userCode = await requestUserCode(panel);
      device = await device.restart();
      panel = await device.panel();
      assert.equal((await panel.tokenStatus('smtp')).state, 'awaiting_authorization', 'still awaiting after the restart');
      await lab.auth.approveDeviceCode(userCode);
      await panel.waitForState('smtp', ['obtained'], 15_000);
      assert.match(textOf((await panel.get('/settings/system/token-events')).html), /Waiting resumed after restart/);
    } finally {
      await device.close();
    }
  });
});

describe('a device code that runs out', () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab({ deviceCodeTtl: 2 });
  });
  after(async () => lab.close());

  test('nobody signs in → Not obtained, "not entered in time"', async () => {
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      await configureOAuth(panel, lab);
      await panel.getToken('smtp');
      const status = await panel.waitForState('smtp', ['not_obtained'], 10_000);
      assert.match(status.reason ?? '', /not entered at the provider in time/);
      assert.match(textOf((await panel.get('/settings/system/token-events')).html), /Authorization expired/);
    } finally {
      await device.close();
    }
  });

  test('the device is off while the code runs out → Not obtained after the restart, never stuck', async () => {
    let device = await bootDevice();
    try {
      const panel = await device.panel();
      await configureOAuth(panel, lab);
      await panel.getToken('smtp');
      await device.close();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      device = await device.restart();
      const status = await (await device.panel()).tokenStatus('smtp');
      assert.equal(status.state, 'not_obtained');
      assert.match(status.reason ?? '', /not entered at the provider in time/);
    } finally {
      await device.close();
    }
  });
});

describe('a page that starts using an account after its token was obtained', () => {
  test('the E-mail Status page says the token lacks its scope and what to do', async () => {
    const lab = await startLab();
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      const providerId = await configureOAuth(panel, lab);
      await obtainToken(panel, lab.auth, 'smtp');
      const account = lab.auth.accounts[0]!.email;
      await panel.saveSettings('pop', { server: '127.0.0.1', port: '1110', checkInterval: '60', ssl: 'none', authMethod: 'oauth2', providerId, account });
      const pop = await panel.tokenStatus('pop');
      assert.equal(pop.state, 'obtained');
      assert.match(pop.warning ?? '', /does not allow E-mail Status\. Press Delete, then Get Token/);
      assert.equal((await panel.tokenStatus('smtp')).warning, null, 'SMTP has what it needs');
      await panel.deleteToken('pop');
      await obtainToken(panel, lab.auth, 'pop');
      assert.equal((await panel.tokenStatus('pop')).warning, null, 'the new token serves both');
    } finally {
      await device.close();
      await lab.close();
    }
  });
});
