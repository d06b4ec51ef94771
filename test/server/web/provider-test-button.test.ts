/** The Test button of an authorization server: what the provider offers, in the catalog's words. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../../firmware-sim/free-port.js';
import { textOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import { bootDevice, startLab, type Lab, type TestDevice } from '../../helpers/device.js';

describe('OAuth authorization server: Test', () => {
  let lab: Lab;
  let device: TestDevice;
  let panel: PanelClient;
  before(async () => {
    lab = await startLab();
    device = await bootDevice();
    panel = await device.panel();
  });
  after(async () => {
    await device.close();
    await lab.close();
  });

  test('a provider that answers: its issuer and the endpoints it offers, named as the form names them', async () => {
    const id = await panel.addProvider({ name: 'Lab', issuerUrl: lab.auth.issuer, clientId: lab.auth.device.clientId, smtpScope: lab.auth.scopes.smtp, popScope: lab.auth.scopes.pop });
    const page = textOf((await panel.submit(`/settings/network/oauth-servers/${id}/test`, {}, `/settings/network/oauth-servers/${id}`)).html);
    const issuer = lab.auth.issuer.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(page, new RegExp(`The provider ${issuer} answered\\. It offers: Authorization Endpoint, Token Endpoint, Device Authorization Endpoint, Revocation Endpoint; its token endpoint is reachable \\(HTTP \\d{3}\\)\\.`));
    assert.doesNotMatch(page, /device authorization|token endpoint answered/, 'no metadata names spelt out by the code');
  });

  test('a provider that cannot be reached says so', async () => {
    const id = await panel.addProvider({ name: 'Gone', issuerUrl: `http://127.0.0.1:${await freePort()}`, clientId: 'x', smtpScope: 'mail.smtp', popScope: 'mail.pop' });
    const page = textOf((await panel.submit(`/settings/network/oauth-servers/${id}/test`, {}, `/settings/network/oauth-servers/${id}`)).html);
    assert.match(page, /The provider could not be reached or answered wrongly: /);
  });
});
