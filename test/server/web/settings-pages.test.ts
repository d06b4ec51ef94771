/** The SMTP, E-mail Status and OAuth server pages: validation next to each field, nothing saved on error, save/restore. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { errorsOf, fieldErrorOf, PAGE_PATHS, textOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import { bootDevice, type TestDevice } from '../../helpers/device.js';

const GOOD_SMTP = { primaryServer: 'smtp.office365.com', port: '587', timeout: '20', senderName: 'Scanner 3F', senderAddress: 'scanner@contoso.com', ssl: 'starttls', authMethod: 'none' };

function valueOf(html: string, field: string): string | undefined {
  const input = new RegExp(`name="${field}" type="[a-z]+" value="([^"]*)"`).exec(html);
  if (input) return input[1];
  const select = new RegExp(`<select id="f-${field}" name="${field}"[^>]*>([\\s\\S]*?)</select>`).exec(html);
  return select ? /<option value="([^"]*)" selected>/.exec(select[1]!)?.[1] : undefined;
}

describe('settings pages', () => {
  let device: TestDevice;
  let panel: PanelClient;
  before(async () => {
    device = await bootDevice();
    panel = await device.panel();
  });
  after(async () => device.close());

  test('the SMTP page has the printer guide\'s fields and the Token line', async () => {
    const page = textOf((await panel.get(PAGE_PATHS.smtp)).html);
    for (const label of ['Primary Server', 'Port Number', 'Timeout', 'Sender Name', 'Sender Address', 'Enable SSL/TLS', 'Authentication Method', 'Provider', 'Account Name', 'Save', 'Get Token', 'Delete', 'Token: Not obtained']) {
      assert.ok(page.includes(label), `SMTP page shows "${label}"`);
    }
    assert.ok(page.includes('System Settings › Network Settings › Service Settings › SMTP'));
  });

  test('the E-mail Status page has the POP fields and the Token line', async () => {
    const page = textOf((await panel.get(PAGE_PATHS.pop)).html);
    for (const label of ['Protocol', 'POP3', 'IMAP', 'Mail Server', 'Port Number', 'IMAP Port Number', 'Folder', 'Check Interval', 'Enable SSL/TLS', 'Authentication Method', 'Plain', 'OAuth 2.0', 'Provider', 'Account Name', 'Token: Not obtained']) {
      assert.ok(page.includes(label), `POP page shows "${label}"`);
    }
    assert.ok(page.includes('System Settings › System Control › E-mail Alert/Status › E-mail Status'));
  });

  test('bad values are shown next to their fields and nothing is saved', async () => {
    await panel.saveSettings('smtp', GOOD_SMTP);
    const bad = await panel.saveSettings('smtp', { ...GOOD_SMTP, primaryServer: 'not a host!', port: '70000', timeout: 'soon', senderAddress: 'nobody', ssl: 'rot13' });
    assert.equal(bad.status, 400);
    assert.equal(fieldErrorOf(bad.html, 'primaryServer'), 'Enter a host name or IP address, e.g. smtp.office365.com.');
    assert.equal(fieldErrorOf(bad.html, 'port'), 'Enter a number from 1 to 65535.');
    assert.equal(fieldErrorOf(bad.html, 'timeout'), 'Enter a whole number.');
    assert.equal(fieldErrorOf(bad.html, 'senderAddress'), 'Enter an e-mail address, e.g. printer@example.com.');
    assert.equal(fieldErrorOf(bad.html, 'ssl'), 'Choose one of the listed values.');
    assert.ok(errorsOf(bad.html).includes('Nothing was saved: correct the fields marked below.'));
    assert.equal(valueOf(bad.html, 'primaryServer'), 'not a host!', 'what the admin typed is kept in the form');
    const saved = await panel.get(PAGE_PATHS.smtp);
    assert.equal(valueOf(saved.html, 'primaryServer'), 'smtp.office365.com', 'the saved value is unchanged');
    assert.equal(valueOf(saved.html, 'port'), '587');
  });

  test('IMAP: its own port (993) and a Folder, which must not be blank; POP3\'s port is kept for a switch back', async () => {
    const imap = { protocol: 'imap', server: 'outlook.office365.com', imapPort: '993', folder: '', checkInterval: '15', ssl: 'tls', authMethod: 'plain', userName: 'scanner', password: 'imap-secret-1' };
    const bad = await panel.saveSettings('pop', imap);
    assert.equal(bad.status, 400);
    assert.equal(fieldErrorOf(bad.html, 'folder'), 'Enter a value.');
    const saved = await panel.saveSettings('pop', { ...imap, folder: 'INBOX/Scans' });
    assert.equal(saved.status, 200);
    const page = await panel.get(PAGE_PATHS.pop);
    assert.equal(valueOf(page.html, 'protocol'), 'imap');
    assert.equal(valueOf(page.html, 'imapPort'), '993');
    assert.equal(valueOf(page.html, 'folder'), 'INBOX/Scans');
    assert.equal(valueOf(page.html, 'port'), '995', 'the POP3 port keeps its value, hidden');
  });

  test('OAuth 2.0 needs a registered provider and an account', async () => {
    const bad = await panel.saveSettings('smtp', { ...GOOD_SMTP, authMethod: 'oauth2', providerId: '99', account: '' });
    assert.equal(bad.status, 400);
    assert.equal(fieldErrorOf(bad.html, 'providerId'), 'Choose one of the listed values.');
    assert.equal(fieldErrorOf(bad.html, 'account'), 'Enter a value.');
    assert.match(textOf(bad.html), /Register an OAuth authorization server first/);
  });

  test('saved values (and secrets, never shown) survive a restart', async () => {
    await panel.saveSettings('pop', { server: 'outlook.office365.com', port: '995', checkInterval: '15', ssl: 'tls', authMethod: 'plain', userName: 'scanner', password: 'pop-secret-123' });
    device = await device.restart();
    panel = await device.panel();
    const page = await panel.get(PAGE_PATHS.pop);
    assert.equal(valueOf(page.html, 'server'), 'outlook.office365.com');
    assert.equal(valueOf(page.html, 'checkInterval'), '15');
    assert.equal(valueOf(page.html, 'ssl'), 'tls');
    assert.equal(page.html.includes('pop-secret-123'), false, 'the password is never sent back');
    assert.match(textOf(page.html), /Leave blank to keep the current one/);
    // Saving again with the password left blank keeps it.
    const again = await panel.saveSettings('pop', { server: 'outlook.office365.com', port: '995', checkInterval: '10', ssl: 'tls', authMethod: 'plain', userName: 'scanner', password: '' });
    assert.equal(again.status, 200);
    assert.equal(device.device.services.settings.secret({ id: 'pop', title: 'pop.title', fields: [] }, 'password'), 'pop-secret-123');
  });
});

describe('OAuth authorization servers page', () => {
  let device: TestDevice;
  let panel: PanelClient;
  before(async () => {
    device = await bootDevice();
    panel = await device.panel();
  });
  after(async () => device.close());

  const provider = { name: 'Contoso', type: 'custom', issuerUrl: 'https://login.contoso.example/v2.0', clientId: 'abc-123', clientSecret: '', smtpScope: 'https://outlook.office.com/SMTP.Send', popScope: 'https://outlook.office.com/POP.AccessAsUser.All', extraScope: 'offline_access' };

  test('an http:// issuer is refused unless it is on loopback', async () => {
    const bad = await panel.submit('/settings/network/oauth-servers', { ...provider, issuerUrl: 'http://idp.example.com' }, '/settings/network/oauth-servers/new');
    assert.equal(bad.status, 400);
    assert.match(fieldErrorOf(bad.html, 'issuerUrl') ?? '', /Use https:\/\//);
    const loopback = await panel.submit('/settings/network/oauth-servers', { ...provider, name: 'Lab', issuerUrl: 'http://127.0.0.1:9400' }, '/settings/network/oauth-servers/new');
    assert.equal(loopback.status, 200);
  });

  test('a provider is saved, its client secret never shown, names are unique, and one in use cannot be deleted', async () => {
    const id = await panel.addProvider({ ...provider, clientSecret: 'very-secret-value' });
    const list = await panel.get('/settings/network/oauth-servers');
    assert.match(textOf(list.html), /Contoso Custom \(any OAuth 2\.0 server\) https:\/\/login\.contoso\.example\/v2\.0 abc-123/);
    const edit = await panel.get(`/settings/network/oauth-servers/${id}`);
    assert.equal(edit.html.includes('very-secret-value'), false);
    const dup = await panel.submit('/settings/network/oauth-servers', { ...provider, name: 'contoso' }, '/settings/network/oauth-servers/new');
    assert.equal(fieldErrorOf(dup.html, 'name'), 'Another authorization server already has this name.');

    await panel.saveSettings('smtp', { ...GOOD_SMTP, authMethod: 'oauth2', providerId: id, account: 'scanner@contoso.com' });
    const refused = await panel.submit(`/settings/network/oauth-servers/${id}/delete`, { confirm: 'ok' }, '/settings/network/oauth-servers');
    assert.match(textOf(refused.html), /used by SMTP\. Choose another provider there first/);
    assert.ok(device.device.services.providers.get(Number(id)), 'still there');

    await panel.saveSettings('smtp', GOOD_SMTP);
    const deleted = await panel.submit(`/settings/network/oauth-servers/${id}/delete`, { confirm: 'ok' }, '/settings/network/oauth-servers');
    assert.match(textOf(deleted.html), /The authorization server has been deleted/);
    assert.doesNotMatch(textOf(deleted.html), /Contoso Custom/, 'gone from the list');
    const smtp = await panel.get('/settings/network/smtp');
    assert.doesNotMatch(smtp.html, />Contoso</, 'no longer offered on the SMTP page');
    assert.match(smtp.html, />Lab</, 'the other provider still is');
  });
});
