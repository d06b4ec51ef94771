/**
 * The POP status checker end to end: a device (its panel driven over HTTP), the lab authorization
 * server giving it a real token through Get Token, and a real Dovecot checking that token by
 * introspection. Every server listens on 127.0.0.1 and every test stops what it starts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { dovecotAvailable, DOVECOT_BIN, startDovecotLab, type DovecotLab, type DovecotLabOptions } from '../../../firmware-sim/cloud/pop3-server.js';
import { PAGE_PATHS, textOf, type PanelClient, type TokenStatusAnswer } from '../../../firmware-sim/panel-client.js';
import { PopChecker, type PopCheckOutcome } from '../../../server/mail/pop-checker.js';
import { mailboxKey, parseHeaders } from '../../../server/mail/pop-inbox.js';
import { POP_CHECK_PATHS } from '../../../server/web/routes/pop-check.js';
import { bootDevice, configureOAuth, obtainToken, startLab, tempDir, throwawayCertificate, type Lab, type TestDevice } from '../../helpers/device.js';

const PLAIN = { user: 'legacy@lab.example', password: 'legacy:pass word 0042' };

function mail(subject: string, from = 'Alice Example <alice@lab.example>'): string {
  return `From: ${from}\r\nTo: printer@lab.example\r\nSubject: ${subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <${randomUUID()}@lab.example>\r\n\r\nPlease print this.\r\n`;
}

async function checkNow(panel: PanelClient): Promise<string> {
  const page = await panel.submit(POP_CHECK_PATHS.checkNow, {}, PAGE_PATHS.pop);
  assert.equal(page.status, 200);
  return page.html;
}

async function connectionTest(panel: PanelClient): Promise<string> {
  const page = await panel.submit(POP_CHECK_PATHS.test, {}, PAGE_PATHS.pop);
  assert.equal(page.status, 200);
  return page.html;
}

async function lastCheck(panel: PanelClient): Promise<PopCheckOutcome | null> {
  const { status, body } = await panel.json<{ lastCheck: PopCheckOutcome | null }>(POP_CHECK_PATHS.api);
  assert.equal(status, 200);
  return body.lastCheck;
}

/** The transcript block of the first outcome on a page, as text lines. */
function transcriptOf(html: string): string[] {
  const match = /<pre class="transcript">([\s\S]*?)<\/pre>/.exec(html);
  assert.ok(match, 'the page shows a transcript');
  const unescape = (text: string) =>
    text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code))).replace(/&amp;/g, '&');
  return match[1]!.split('\n').map(unescape);
}

/** Step label → status text, from the first steps table on a page. */
function stepsOf(html: string): Record<string, string> {
  const table = /<table class="grid pop-steps">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  const steps: Record<string, string> = {};
  for (const row of table.matchAll(/<tr class="step-[^"]*"><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)) {
    steps[textOf(row[1]!)] = `${textOf(row[2]!)}${row[3] ? ` ${textOf(row[3])}` : ''}`;
  }
  return steps;
}

function storedAccessToken(device: TestDevice): string {
  const { db, box } = device.device.services;
  const row = db.prepare('SELECT access_token_enc FROM credentials').get() as { access_token_enc: string } | undefined;
  assert.ok(row?.access_token_enc, 'a token is stored');
  return box.open(row.access_token_enc);
}

function events(device: TestDevice): string[] {
  return device.device.services.events.list().map((e) => e.kind);
}

describe('POP checker against Dovecot with a token from the lab authorization server', {
  skip: dovecotAvailable() ? false : `${DOVECOT_BIN} is not installed (apt-get install dovecot-core dovecot-pop3d): Dovecot tests skipped`,
}, () => {
  let lab: Lab;
  let introspectionUrl: string;

  before(async () => {
    lab = await startLab({ deviceCodeTtl: 600 });
    const url = new URL('/token/introspection', lab.auth.issuer);
    url.username = encodeURIComponent(lab.auth.introspector.clientId);
    url.password = encodeURIComponent(lab.auth.introspector.clientSecret);
    introspectionUrl = url.href;
  });
  after(async () => lab.close());

  async function dovecot(t: TestContext, options: Partial<DovecotLabOptions> = {}): Promise<DovecotLab> {
    const d = await startDovecotLab({ introspection: { url: introspectionUrl }, passwords: { [PLAIN.user]: PLAIN.password }, ...options });
    t.after(() => d.close());
    return d;
  }

  /** A fresh device whose E-mail Status page points at Dovecot with OAuth 2.0; Get Token approved unless told not to. */
  async function oauthDevice(pop: DovecotLab, options: { token?: boolean; interval?: string } = {}): Promise<{ device: TestDevice; panel: PanelClient; account: string }> {
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      const providerId = await configureOAuth(panel, lab);
      const account = lab.auth.accounts[0]!.email;
      const saved = await panel.saveSettings('pop', {
        server: '127.0.0.1', port: String(pop.port), checkInterval: options.interval ?? '60', ssl: 'none', authMethod: 'oauth2', providerId, account,
      });
      assert.equal(saved.status, 200);
      if (options.token !== false) {
        await obtainToken(panel, lab.auth, 'pop');
      }
      return { device, panel, account };
    } catch (err) {
      await device.close();
      throw err;
    }
  }

  test('new vs seen mail: 3 fetched, then only the 2 new, then after a restart only the new one; gone UIDs are forgotten; nothing is deleted', async (t) => {
    const pop = await dovecot(t);
    let { device, panel, account } = await oauthDevice(pop);
    const seen: string[] = [];
    try {
      // The E-mail Status page carries the two buttons.
      const settingsPage = (await panel.get(PAGE_PATHS.pop)).html;
      assert.ok(settingsPage.includes(`action="${POP_CHECK_PATHS.checkNow}"`) && settingsPage.includes(`action="${POP_CHECK_PATHS.test}"`));
      assert.ok(!(await panel.get(PAGE_PATHS.smtp)).html.includes(POP_CHECK_PATHS.checkNow), 'the SMTP page has no POP buttons');

      await pop.deliver(account, mail('Scan 1'));
      await pop.deliver(account, mail('=?UTF-8?B?UHLDvGZ1bmc=?= 2', '"Bob" <bob@lab.example>'));
      await pop.deliver(account, mail('Scan 3'));

      let html = await checkNow(panel);
      seen.push(html);
      let text = textOf(html);
      assert.match(text, /3 new message\(s\) fetched; 3 in the mailbox\./);
      for (const subject of ['Scan 1', 'Prüfung 2', 'Scan 3']) assert.ok(text.includes(subject), `the inbox lists "${subject}"`);
      assert.ok(text.includes('"Bob" <bob@lab.example>'));

      // The two-step SASL XOAUTH2 exchange, with the credentials hidden.
      const lines = transcriptOf(html);
      const auth = lines.indexOf('C: AUTH XOAUTH2');
      assert.ok(auth >= 0, 'AUTH XOAUTH2 was sent on its own');
      assert.match(lines[auth + 1] ?? '', /^S: \+ ?$/, 'the server asks for the credentials with a bare "+"');
      assert.equal(lines[auth + 2], 'C: <XOAUTH2 credentials hidden>');
      assert.match(lines[auth + 3] ?? '', /^S: \+OK/);
      assert.equal(lines.filter((l) => /^C: RETR /.test(l)).length, 3, lines.join('\n'));
      assert.ok(!lines.some((l) => /^C: DELE/.test(l)), 'nothing is deleted on the server');

      await pop.deliver(account, mail('Scan 4'));
      await pop.deliver(account, mail('Scan 5'));
      html = await checkNow(panel);
      seen.push(html);
      assert.match(textOf(html), /2 new message\(s\) fetched; 5 in the mailbox\./);
      assert.deepEqual(transcriptOf(html).filter((l) => /^C: RETR /.test(l)), ['C: RETR 4', 'C: RETR 5']);

      device = await device.restart();
      panel = await device.panel();
      await pop.deliver(account, mail('Scan 6'));
      html = await checkNow(panel);
      seen.push(html);
      assert.match(textOf(html), /1 new message\(s\) fetched; 6 in the mailbox\./, 'seen UIDs survive a restart');
      const last = await lastCheck(panel);
      assert.equal(last?.fetched, 1);
      assert.equal(last?.onServer, 6);
      assert.equal(device.device.services.popChecker.inbox.seenCount(mailboxKey('127.0.0.1', account)), 6);

      // A message removed on the server (by another client) is forgotten, not fetched again.
      const maildir = path.join(pop.dir, 'mail', account, 'Maildir');
      const files = ['cur', 'new'].flatMap((sub) => fs.readdirSync(path.join(maildir, sub)).map((f) => path.join(maildir, sub, f)));
      assert.equal(files.length, 6, 'all 6 messages are still on the server');
      fs.unlinkSync(files[0]!);
      html = await checkNow(panel);
      seen.push(html);
      assert.match(textOf(html), /No new messages; 5 in the mailbox\./);
      assert.equal((await lastCheck(panel))?.forgotten, 1);
      assert.equal(device.device.services.popChecker.inbox.seenCount(mailboxKey('127.0.0.1', account)), 5);

      // The inbox page lists what was fetched, with the last check and its transcript.
      const inbox = await panel.get(POP_CHECK_PATHS.inbox);
      seen.push(inbox.html);
      assert.match(textOf(inbox.html), /Last check .*No new messages/);
      assert.equal((inbox.html.match(/<tr data-uid=/g) ?? []).length, 6);
      assert.match(textOf(inbox.html), /Next automatic check: /);
      seen.push(JSON.stringify((await panel.json(POP_CHECK_PATHS.api)).body));

      // No token in any page, JSON answer, log line or stored transcript.
      const token = storedAccessToken(device);
      const stored = JSON.stringify(device.device.services.db.prepare('SELECT * FROM pop_status').all());
      for (const text of [...seen, stored, device.logs.join('\n')]) assert.ok(!text.includes(token), 'the token leaked');
      assert.ok(device.logs.some((l) => l.includes('POP check done')), 'checks are logged');
    } finally {
      await device.close();
    }
  });

  test('a password reset (seed 000): the error challenge, one forced refresh refused → Invalid on both pages with the remedy; a new token works again', async (t) => {
    const pop = await dovecot(t);
    const { device, panel, account } = await oauthDevice(pop);
    try {
      await pop.deliver(account, mail('Before the reset'));
      assert.match(textOf(await checkNow(panel)), /1 new message\(s\) fetched/);
      assert.ok((await lab.auth.resetPassword(account)) > 0);

      const html = await checkNow(panel);
      const text = textOf(html);
      assert.match(text, /Token: Invalid/);
      assert.match(text, /no longer accepts this token: the password was changed or reset/);
      assert.match(text, /What to do: Delete the token and obtain it again/);
      const lines = transcriptOf(html);
      assert.ok(lines.some((l) => l.startsWith('*  challenge: {"status":"401"')), 'the XOAUTH2 error challenge is decoded');
      const challenge = lines.findIndex((l) => l.startsWith('*  challenge:'));
      assert.equal(lines[challenge + 1], 'C: ', 'answered with an empty line');
      assert.match(lines[challenge + 2] ?? '', /^S: -ERR \[AUTH\]/);

      for (const purpose of ['smtp', 'pop'] as const) {
        const status = await panel.tokenStatus(purpose);
        assert.equal(status.state, 'invalid', `${purpose} shows Invalid`);
        assert.match(status.remedy ?? '', /Delete the token and obtain it again/);
      }
      assert.ok(events(device).includes('invalidated'));
      assert.equal((await lastCheck(panel))?.tokenRenewed, true);

      // Delete → Get Token → the mailbox is checked again, still without fetching the old mail twice.
      await panel.deleteToken('pop');
      await obtainToken(panel, lab.auth, 'pop');
      await pop.deliver(account, mail('After the reset'));
      assert.match(textOf(await checkNow(panel)), /1 new message\(s\) fetched; 2 in the mailbox/);
    } finally {
      await device.close();
    }
  });

  test('a token the server refuses even after a refresh → pop_auth: Invalid on both pages with the POP remedy', async (t) => {
    // This Dovecot demands a scope the lab never grants: every token is refused, renewed or not.
    const pop = await dovecot(t, { requiredScope: 'mail.pop mail.archive' });
    const { device, panel } = await oauthDevice(pop);
    try {
      const text = textOf(await checkNow(panel));
      assert.match(text, /The POP3 server refused the token, also after the device renewed it\. \(-ERR \[AUTH\]/);
      assert.match(text, /What to do: Check that POP access is allowed for the mailbox/);
      for (const purpose of ['smtp', 'pop'] as const) {
        const status: TokenStatusAnswer = await panel.tokenStatus(purpose);
        assert.equal(status.state, 'invalid');
        assert.match(status.reason ?? '', /refused the token, also after the device renewed it\. \(-ERR \[AUTH\]/);
        assert.match(status.remedy ?? '', /POP access is allowed/);
      }
      const kinds = events(device);
      assert.equal(kinds.filter((k) => k === 'refreshed').length, 1, 'exactly one forced refresh');
      assert.ok(kinds.includes('invalidated'));
      // A check with an Invalid token is skipped, without connecting.
      const again = await checkNow(panel);
      assert.match(textOf(again), /The check was skipped: there is no usable OAuth 2\.0 token/);
      assert.equal(stepsOf(again)['Connect'], 'Not reached');
    } finally {
      await device.close();
    }
  });

  test('transient failures (-ERR [SYS/TEMP], server down) leave the token Obtained and are retried next time', async (t) => {
    const broken = await dovecot(t, { introspection: { url: 'http://nobody:nothing-secret@127.0.0.1:9/token/introspection' } });
    const { device, panel } = await oauthDevice(broken);
    try {
      let text = textOf(await checkNow(panel));
      assert.match(text, /could not check the sign-in right now\. \(-ERR \[SYS\/TEMP\]/);
      assert.match(text, /temporary problem: the device tries again at the next check/);
      assert.equal((await panel.tokenStatus('pop')).state, 'obtained');
      assert.ok(!events(device).includes('refreshed'), 'a temporary failure does not burn a refresh');

      await broken.close();
      text = textOf(await checkNow(panel));
      assert.match(text, /The POP3 server could not be reached/);
      assert.match(text, /temporary problem/);
      assert.equal((await panel.tokenStatus('pop')).state, 'obtained');
      assert.equal((await panel.tokenStatus('smtp')).state, 'obtained');
      const last = await lastCheck(panel);
      assert.equal(last?.problem?.code, 'network');
      assert.equal(last?.problem?.transient, true);
      assert.ok(device.logs.some((l) => l.includes('the next check tries again')), 'logged as transient');
    } finally {
      await device.close();
    }
  });

  test('Connection Test: skipped without a token; then connect, greeting, CAPA and AUTH without fetching', async (t) => {
    const pop = await dovecot(t);
    const { device, panel, account } = await oauthDevice(pop, { token: false });
    try {
      let html = await connectionTest(panel);
      assert.match(textOf(html), /The check was skipped: there is no usable OAuth 2\.0 token/);
      assert.match(textOf(html), /Token: Not obtained/);
      assert.match(textOf(html), /What to do: Obtain a token on the E-mail Status page/);

      await obtainToken(panel, lab.auth, 'pop');
      await pop.deliver(account, mail('Waiting'));

      html = await connectionTest(panel);
      const steps = stepsOf(html);
      assert.equal(steps['Connect'], `OK 127.0.0.1:${pop.port}`);
      assert.equal(steps['TLS'], 'Not used');
      assert.match(steps['Greeting'] ?? '', /^OK \+OK Dovecot/);
      assert.match(steps['Capabilities (CAPA)'] ?? '', /^OK .*SASL .*XOAUTH2/);
      assert.equal(steps['Sign-in (AUTH)'], `OK XOAUTH2 (${account})`);
      assert.match(textOf(html), /The device connected and signed in\. No mail was fetched\./);
      const lines = transcriptOf(html);
      assert.ok(!lines.some((l) => /^C: (UIDL|RETR|DELE)/.test(l)));
      assert.equal(await lastCheck(panel), null, 'a connection test is not a check');
      assert.match(textOf(await checkNow(panel)), /1 new message\(s\) fetched/, 'the test did not mark anything seen');
      const token = storedAccessToken(device);
      assert.ok(!html.includes(token));
    } finally {
      await device.close();
    }
  });

  test('Plain (USER/PASS): fetches new mail; a wrong password says so; the password never shows', async (t) => {
    const pop = await dovecot(t);
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      const save = (password: string) =>
        panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '60', ssl: 'none', authMethod: 'plain', userName: PLAIN.user, password });
      assert.equal((await save(PLAIN.password)).status, 200);
      await pop.deliver(PLAIN.user, mail('Plain 1'));
      await pop.deliver(PLAIN.user, mail('Plain 2'));
      const html = await checkNow(panel);
      assert.match(textOf(html), /2 new message\(s\) fetched; 2 in the mailbox/);
      const lines = transcriptOf(html);
      assert.ok(lines.includes(`C: USER ${PLAIN.user}`) && lines.includes('C: PASS ********'));

      assert.equal((await save('wrong-password-0000')).status, 200);
      const wrong = await checkNow(panel);
      assert.match(textOf(wrong), /refused the User Name or Password\. \(-ERR \[AUTH\]/);
      assert.match(textOf(wrong), /What to do: Check the User Name and Password/);
      for (const text of [html, wrong, (await panel.get(POP_CHECK_PATHS.inbox)).html, JSON.stringify((await panel.json(POP_CHECK_PATHS.api)).body), device.logs.join('\n')]) {
        assert.ok(!text.includes(PLAIN.password) && !text.includes('wrong-password-0000'), 'a password leaked');
      }
    } finally {
      await device.close();
    }
  });
});

describe('POP checker: TLS per the page, and a provider outage while the token needs renewing', {
  skip: dovecotAvailable() ? false : `${DOVECOT_BIN} is not installed: Dovecot tests skipped`,
}, () => {
  test('STARTTLS: the checker upgrades before signing in and the Connection Test shows the TLS step', async (t) => {
    const dir = tempDir('pop-cert-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cert = throwawayCertificate(dir);
    if (!cert) return t.skip('openssl is not available to make a throwaway certificate');
    const { certFile, keyFile } = cert;
    const pop = await startDovecotLab({ introspection: { url: 'http://unused:unused-secret@127.0.0.1:9/x' }, passwords: { [PLAIN.user]: PLAIN.password }, tls: { certFile, keyFile } });
    t.after(() => pop.close());
    const device = await bootDevice();
    t.after(() => device.close());
    const panel = await device.panel();
    await panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '60', ssl: 'starttls', authMethod: 'plain', userName: PLAIN.user, password: PLAIN.password });
    await pop.deliver(PLAIN.user, mail('Over TLS'));

    // The device's own checker trusts only public CAs: the lab's throwaway certificate is refused.
    const refused = textOf(await connectionTest(panel));
    assert.match(refused, /The secure connection \(TLS\) to the POP3 server failed/);

    // The same settings with the lab certificate trusted (only the CA differs).
    const { db, settings, accounts, tokens } = device.device.services;
    const log = { info: () => {}, warn: () => {}, error: () => {} };
    const checker = new PopChecker({ db, settings, accounts, tokens, log, tls: { ca: fs.readFileSync(certFile) } });
    t.after(() => checker.close());
    const test = await checker.testConnection();
    assert.equal(test.ok, true, JSON.stringify(test.problem));
    const tlsStep = test.steps.find((s) => s.step === 'tls');
    assert.equal(tlsStep?.status, 'ok');
    assert.match(tlsStep?.text ?? '', /^TLS established \(TLSv1\.[23]/);
    const lines = test.transcript.map((l) => l.text);
    assert.ok(lines.indexOf('STLS') >= 0 && lines.indexOf('STLS') < lines.indexOf(`USER ${PLAIN.user}`), 'STLS before USER');
    const check = await checker.checkNow();
    assert.equal(check.fetched, 1);
  });

  test('the provider is down when the token must be renewed → transient, the token stays Obtained', async (t) => {
    // Access tokens of 2 s: the store renews before every use (its margin is 5 minutes).
    const shortLab = await startLab({ accessTokenTtl: 2, deviceCodeTtl: 600 });
    t.after(() => shortLab.close());
    const url = new URL('/token/introspection', shortLab.auth.issuer);
    url.username = encodeURIComponent(shortLab.auth.introspector.clientId);
    url.password = encodeURIComponent(shortLab.auth.introspector.clientSecret);
    const pop = await startDovecotLab({ introspection: { url: url.href } });
    t.after(() => pop.close());
    const device = await bootDevice();
    t.after(() => device.close());
    const panel = await device.panel();
    const providerId = await configureOAuth(panel, shortLab);
    const account = shortLab.auth.accounts[0]!.email;
    await panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '60', ssl: 'none', authMethod: 'oauth2', providerId, account });
    await obtainToken(panel, shortLab.auth, 'pop');
    await pop.deliver(account, mail('Outage'));

    await new Promise((resolve) => setTimeout(resolve, 2_200)); // the access token has expired
    shortLab.auth.setFault({ kind: 'server_error', endpoint: 'token' });
    const text = textOf(await checkNow(panel));
    assert.match(text, /The token needed renewing, but the provider could not be reached/);
    assert.match(text, /temporary problem/);
    assert.equal((await panel.tokenStatus('pop')).state, 'obtained');
    assert.equal((await lastCheck(panel))?.problem?.code, 'token_unreachable');

    shortLab.auth.setFault(null);
    assert.match(textOf(await checkNow(panel)), /1 new message\(s\) fetched/, 'the next check works once the provider is back');
  });
});

describe('POP inbox headers', () => {
  test('unfolds, decodes RFC 2047 words (B and Q) and keeps fields short', () => {
    const raw = Buffer.from('Subject: =?UTF-8?Q?Toner_f=C3=A4rg?=\r\n =?UTF-8?B?IHR3bw==?=\r\nFrom: =?ISO-8859-1?Q?J=F6rg?= <j@x.example>\r\nDate: Tue, 2 Jan 2024 08:00:00 +0100\r\n\r\nSubject: not a header\r\n');
    assert.deepEqual(parseHeaders(raw), { subject: 'Toner färg two', from: 'Jörg <j@x.example>', date: 'Tue, 2 Jan 2024 08:00:00 +0100' });
    assert.deepEqual(parseHeaders(Buffer.from('no headers at all')), { subject: null, from: null, date: null });
    assert.equal(parseHeaders(Buffer.from(`Subject: ${'x'.repeat(1000)}\r\n\r\n`)).subject?.length, 300);
  });
});
