/**
 * The mailbox checker over IMAP, end to end: a device whose E-mail Status page is set to IMAP, a real
 * token from the lab authorization server (Get Token), and Dovecot's own IMAP server checking that
 * token by introspection. Only new mail by UID; nothing marked read; a refused token diagnosed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { dovecotAvailable, DOVECOT_BIN, startDovecotLab, type DovecotLab, type DovecotLabOptions } from '../../../firmware-sim/cloud/pop3-server.js';
import { PAGE_PATHS, textOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import type { PopCheckOutcome } from '../../../server/mail/pop-checker.js';
import { en } from '../../../server/i18n/en.js';
import { POP_CHECK_PATHS } from '../../../server/web/routes/pop-check.js';
import { PopChecker } from '../../../server/mail/pop-checker.js';
import { bootDevice, configureOAuth, introspectionUrl, obtainToken, startLab, tempDir, throwawayCertificate, type Lab, type TestDevice } from '../../helpers/device.js';

function mail(subject: string): string {
  return `From: Alice Example <alice@lab.example>\r\nTo: printer@lab.example\r\nSubject: ${subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <${randomUUID()}@lab.example>\r\n\r\nPlease print this.\r\n`;
}

/** Check Now on the E-mail Status page: the page it comes back to, and the outcome as the API tells it. */
async function checkNow(panel: PanelClient): Promise<{ html: string; outcome: PopCheckOutcome }> {
  const page = await panel.submit(POP_CHECK_PATHS.checkNow, { from: 'settings' }, PAGE_PATHS.pop);
  assert.equal(page.status, 200);
  const { body } = await panel.json<{ lastCheck: PopCheckOutcome }>(POP_CHECK_PATHS.api);
  return { html: page.html, outcome: body.lastCheck };
}

/** The subjects the result on the page lists as fetched by this check. */
function fetchedSubjects(html: string): string[] {
  const table = /<table class="grid pop-fetched">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  return [...table.matchAll(/<tr><td class="long">[^<]*<\/td><td class="long">([^<]*)<\/td><\/tr>/g)].map((m) => textOf(m[1]!)).sort();
}

function storedAccessToken(device: TestDevice): string {
  const { db, box } = device.device.services;
  const row = db.prepare('SELECT access_token_enc FROM credentials').get() as { access_token_enc: string } | undefined;
  assert.ok(row?.access_token_enc, 'a token is stored');
  return box.open(row.access_token_enc);
}

describe('IMAP mailbox check against Dovecot with a token from the lab authorization server', {
  skip: dovecotAvailable() && fs.existsSync('/usr/lib/dovecot/imap') ? false : `${DOVECOT_BIN} or dovecot-imapd is not installed: IMAP tests skipped`,
}, () => {
  let lab: Lab;

  before(async () => {
    lab = await startLab({ deviceCodeTtl: 600 });
  });
  after(async () => lab.close());

  async function dovecot(t: TestContext, options: Partial<DovecotLabOptions> = {}): Promise<DovecotLab> {
    const d = await startDovecotLab({ introspection: { url: introspectionUrl(lab) }, imap: {}, ...options });
    t.after(() => d.close());
    return d;
  }

  /** A fresh device with E-mail Status on IMAP (OAuth 2.0) and a token approved at the lab. */
  async function imapDevice(t: TestContext, imap: DovecotLab, fields: Record<string, string> = {}): Promise<{ device: TestDevice; panel: PanelClient; account: string }> {
    const device = await bootDevice();
    t.after(() => device.close());
    const panel = await device.panel();
    const providerId = await configureOAuth(panel, lab);
    const account = lab.auth.accounts[0]!.email;
    const saved = await panel.saveSettings('pop', {
      protocol: 'imap', server: '127.0.0.1', imapPort: String(imap.imapPort), folder: 'INBOX', checkInterval: '60', ssl: 'none', authMethod: 'oauth2', providerId, account, ...fields,
    });
    assert.equal(saved.status, 200, textOf(saved.html).slice(0, 300));
    await obtainToken(panel, lab.auth, 'pop');
    return { device, panel, account };
  }

  test('first check fetches what is there, the second nothing, a new message once; nothing is marked read; the token never shows', async (t) => {
    const imap = await dovecot(t);
    const { device, panel, account } = await imapDevice(t, imap);
    await imap.deliver(account, mail('First scan job'));
    await imap.deliver(account, mail('Second scan job'));

    const first = await checkNow(panel);
    assert.equal(first.outcome.ok, true, JSON.stringify(first.outcome.problem));
    assert.equal(first.outcome.protocol, 'imap');
    assert.deepEqual([first.outcome.fetched, first.outcome.onServer], [2, 2]);
    assert.deepEqual(fetchedSubjects(first.html), ['First scan job', 'Second scan job'], 'the page lists what this check fetched');
    const transcript = first.outcome.transcript.map((l) => l.text).join('\n');
    assert.match(transcript, /AUTHENTICATE XOAUTH2/, 'signed in with XOAUTH2');
    assert.match(transcript, /EXAMINE/, 'the folder opened read-only');
    assert.ok(!transcript.includes(storedAccessToken(device)) && !first.html.includes(storedAccessToken(device)), 'no token in the transcript or the page');
    assert.match(textOf(first.html), /New mail \(EXAMINE, UID SEARCH, UID FETCH\)/, 'IMAP\'s own step names');

    const second = await checkNow(panel);
    assert.deepEqual([second.outcome.ok, second.outcome.fetched, second.outcome.onServer], [true, 0, 2], 'nothing new');

    await imap.deliver(account, mail('Third scan job'));
    const third = await checkNow(panel);
    assert.deepEqual([third.outcome.fetched, third.outcome.onServer], [1, 3]);
    assert.deepEqual(fetchedSubjects(third.html), ['Third scan job']);
    assert.equal((await checkNow(panel)).outcome.fetched, 0, 'fetched once only');

    const inbox = device.device.services.popChecker.listInbox(10).map((e) => e.subject).sort();
    assert.deepEqual(inbox, ['First scan job', 'Second scan job', 'Third scan job'], 'the E-mail Print Inbox has each message once');
    // Dovecot keeps flags in the Maildir file names (":2,S" = seen): the device only looked.
    const cur = path.join(imap.dir, 'mail', account, 'Maildir', 'cur');
    const files = [...(fs.existsSync(cur) ? fs.readdirSync(cur) : []), ...fs.readdirSync(path.join(imap.dir, 'mail', account, 'Maildir', 'new'))];
    assert.equal(files.length, 3, 'all three messages are still on the server');
    assert.ok(files.every((f) => !/:2,[A-Z]*S/.test(f)), `none marked read: ${files.join(', ')}`);
  });

  test('a renumbered folder (new UIDVALIDITY) is fetched again, as the server asks', async (t) => {
    const imap = await dovecot(t);
    const { panel, account } = await imapDevice(t, imap);
    await imap.deliver(account, mail('Before renumbering'));
    assert.equal((await checkNow(panel)).outcome.fetched, 1);
    // Dovecot keeps UIDVALIDITY and the UIDs in dovecot-uidlist and its index; without them the folder is renumbered.
    // (Dovecot's UIDVALIDITY is the time in seconds: let the clock move on first.)
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const maildir = path.join(imap.dir, 'mail', account, 'Maildir');
    for (const file of fs.readdirSync(maildir).filter((f) => f.startsWith('dovecot'))) fs.rmSync(path.join(maildir, file), { recursive: true });
    const again = await checkNow(panel);
    assert.deepEqual([again.outcome.ok, again.outcome.fetched, again.outcome.forgotten], [true, 1, 1], JSON.stringify(again.outcome.problem));
  });

  test('a token the IMAP server refuses (no IMAP scope): renewed once, then Invalid with its own reason and remedy', async (t) => {
    const imap = await dovecot(t, { requiredScope: 'mail.imap' });
    const { panel } = await imapDevice(t, imap);
    const { html, outcome } = await checkNow(panel);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.problem?.code, 'imap_auth');
    assert.equal(outcome.tokenRenewed, true, 'one forced renewal first');
    const text = textOf(html);
    assert.ok(text.includes(en['reason.imap_auth']), 'the page says the IMAP server refused the token');
    assert.ok(text.includes(en['reason.imap_auth.remedy']), 'and what to do');
    assert.equal((await panel.tokenStatus('pop')).state, 'invalid');
  });

  test('the IMAP server cannot check the token (its introspection is down): temporary, the token stays Obtained', async (t) => {
    const imap = await dovecot(t, { introspection: { url: 'http://dovecot:unused-secret@127.0.0.1:9/token/introspection' } });
    const { panel } = await imapDevice(t, imap);
    const { html, outcome } = await checkNow(panel);
    assert.equal(outcome.problem?.code, 'temporary', JSON.stringify(outcome.problem));
    assert.equal(outcome.problem?.transient, true);
    assert.ok(textOf(html).includes(en['imapCheck.problem.temporary']), 'the IMAP words, not the POP3 ones');
    assert.equal((await panel.tokenStatus('pop')).state, 'obtained', 'a server that could not check is no reason to drop the token');
  });

  test('a folder that does not exist, STARTTLS the server does not offer: each its own message, the token untouched', async (t) => {
    const imap = await dovecot(t);
    const { panel } = await imapDevice(t, imap, { folder: 'Scans' });
    const missing = await checkNow(panel);
    assert.equal(missing.outcome.problem?.code, 'no_folder');
    assert.ok(textOf(missing.html).includes(en['popCheck.problem.no_folder.remedy']));

    assert.equal((await panel.changeSettings('pop', { folder: 'INBOX', ssl: 'starttls' })).status, 200);
    const plain = await checkNow(panel);
    assert.equal(plain.outcome.problem?.code, 'no_stls', JSON.stringify(plain.outcome.problem));
    assert.ok(textOf(plain.html).includes(en['imapCheck.problem.no_stls']));
    assert.equal((await panel.tokenStatus('pop')).state, 'obtained');
  });

  test('STARTTLS with a real token: the device upgrades before AUTHENTICATE; a certificate it does not trust is a TLS problem, in IMAP\'s words', async (t) => {
    const dir = tempDir('imap-cert-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cert = throwawayCertificate(dir);
    if (!cert) return t.skip('openssl is not available to make a throwaway certificate');
    const imap = await dovecot(t, { tls: cert });
    const { device, panel, account } = await imapDevice(t, imap, { ssl: 'starttls' });
    await imap.deliver(account, mail('Over STARTTLS'));

    const refused = await checkNow(panel);
    assert.equal(refused.outcome.problem?.code, 'tls', JSON.stringify(refused.outcome.problem));
    assert.ok(textOf(refused.html).includes(en['imapCheck.problem.tls']));

    // The same settings with the lab certificate trusted (only the CA differs).
    const { db, settings, accounts, tokens } = device.device.services;
    const checker = new PopChecker({ db, settings, accounts, tokens, log: { info: () => {}, warn: () => {}, error: () => {} }, tls: { ca: fs.readFileSync(cert.certFile) } });
    t.after(() => checker.close());
    const check = await checker.checkNow();
    assert.deepEqual([check.ok, check.fetched], [true, 1], JSON.stringify(check.problem));
    assert.equal(check.steps.find((s) => s.step === 'tls')?.status, 'ok');
    const lines = check.transcript.map((l) => l.text);
    const starttls = lines.findIndex((l) => /^\d+ STARTTLS$/.test(l));
    const authenticate = lines.findIndex((l) => /AUTHENTICATE XOAUTH2/.test(l));
    assert.ok(starttls >= 0 && starttls < authenticate, `STARTTLS before AUTHENTICATE:\n${lines.join('\n')}`);
  });
});
