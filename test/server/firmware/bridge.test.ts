/**
 * The firmware bridge through its real Unix socket, against the lab authorization server and the lab
 * SMTP server (nothing mocked): scan-to-email, device status events and e-mail alerts, the status
 * answer, POP check on demand, the socket file itself.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dovecotAvailable, DOVECOT_BIN, startDovecotLab } from '../../../firmware-sim/cloud/pop3-server.js';
import { fieldErrorOf, textOf } from '../../../firmware-sim/panel-client.js';
import { ALERT_PAGE_PATH } from '../../../server/firmware/alerts.js';
import { bootDevice, tempDir, type TestDevice } from '../../helpers/device.js';
import { bootMailDevice, obtainToken, saveSmtp, SMTP_PASSWORD, startMailLab, waitFor, type MailLab } from '../mail/sender-helpers.js';
import { attachmentOf, bridgeCall } from './bridge-helpers.js';

/** A small PDF with binary bytes in it, so a damaged attachment would show. */
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'), crypto.randomBytes(3000), Buffer.from('\n%%EOF\n')]);

interface Status {
  model: string;
  events: { id: number; kind: string; detail: string | null; at: number }[];
  outbox: { queued: number; held: number; failed: number; sent: number };
  tokens: { smtp: string; pop: string };
  pop: { lastCheckAt: number | null; inbox: number };
}

async function smtpAuthDevice(mail: MailLab): Promise<TestDevice> {
  const device = await bootDevice();
  device.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 500, holdPollMs: 100 });
  await saveSmtp(await device.panel(), mail, { authMethod: 'smtp-auth', authUser: mail.account, authPassword: SMTP_PASSWORD });
  return device;
}

describe('firmware bridge: scan-to-email', () => {
  let mail: MailLab;
  before(async () => {
    mail = await startMailLab();
  });
  after(async () => mail.close());

  test('a PDF to 3 recipients (OAuth 2.0) is delivered with the attachment intact; /status; nothing of the job in the log', async () => {
    const { device, panel } = await bootMailDevice(mail);
    try {
      await obtainToken(panel, mail);
      const socket = device.device.firmwareSocket;
      const to = ['ann@example.com', 'ben@example.com', 'cat@example.com'];
      const before = mail.smtp.received.length;
      const answer = await bridgeCall<{ jobId: number; held: boolean }>(socket, 'POST', '/scan-to-email', {
        to, subject: 'Invoice 17', fileName: 'invoice-17.pdf', pdfBase64: PDF.toString('base64'), pages: 2,
      });
      assert.equal(answer.status, 202);
      assert.match(answer.contentType ?? '', /^application\/json/);
      assert.equal(typeof answer.body.jobId, 'number');
      assert.equal(answer.body.held, false);
      await waitFor(() => mail.smtp.received.length > before, 'the scan to arrive');
      await device.device.services.sender.idle();
      const received = mail.smtp.received.slice(before);
      assert.equal(received.length, 1);
      assert.deepEqual(received[0]!.to.sort(), to);
      const raw = received[0]!.raw.toString('utf8');
      assert.match(raw, /Subject: Invoice 17/);
      assert.match(raw, /Scanned from MFP-C131: 2 page\(s\)/);
      assert.match(raw, /Content-Type: application\/pdf/);
      assert.ok(attachmentOf(received[0]!.raw, 'invoice-17.pdf')?.equals(PDF), 'the PDF arrives byte for byte');

      const status = await bridgeCall<Status>(socket, 'GET', '/status');
      assert.equal(status.status, 200);
      assert.equal(status.body.model, device.device.services.config.modelName);
      assert.deepEqual(status.body.tokens, { smtp: 'obtained', pop: 'obtained' });
      assert.deepEqual(status.body.outbox, { queued: 0, held: 0, failed: 0, sent: 1 });
      assert.deepEqual(status.body.events, []);

      const logs = device.logs.join('\n');
      assert.ok(device.logs.some((line) => line.includes('"firmware request"') && line.includes('/scan-to-email')), 'the request is logged at debug');
      for (const address of to) assert.equal(logs.includes(address), false, 'no recipient address in the log');
      assert.equal(logs.includes(PDF.toString('base64').slice(0, 32)), false, 'no PDF in the log');
    } finally {
      await device.close();
    }
  });

  test('120 recipients (sent chunked) → batches of at most 50 on one SMTP connection', async () => {
    const device = await smtpAuthDevice(mail);
    try {
      const to = Array.from({ length: 120 }, (_, i) => `reader${i}@example.com`);
      const connections = mail.smtp.connections;
      const before = mail.smtp.received.length;
      const answer = await bridgeCall(device.device.firmwareSocket, 'POST', '/scan-to-email', { to, pdfBase64: PDF.toString('base64') }, { chunked: true });
      assert.equal(answer.status, 202);
      await waitFor(() => mail.smtp.received.length >= before + 3, 'three batches');
      await device.device.services.sender.idle();
      const batches = mail.smtp.received.slice(before);
      assert.deepEqual(batches.map((b) => b.to.length), [50, 50, 20]);
      assert.deepEqual(batches.flatMap((b) => b.to).sort(), [...to].sort(), 'every recipient once');
      assert.equal(new Set(batches.map((b) => b.sessionId)).size, 1, 'one session');
      assert.equal(mail.smtp.connections - connections, 1, 'one connection');
      assert.ok(batches.every((b) => attachmentOf(b.raw, 'scan.pdf')?.equals(PDF)), 'default file name, PDF intact');
      assert.match(batches[0]!.raw.toString(), /Subject: Scanned from MFP-C131/);
    } finally {
      await device.close();
    }
  });

  test('bad requests: a bad address → 400 and nothing queued; no recipients, bad JSON, bad base64 → 400; 21 MB (with or without Content-Length) → 413; unknown path → 404', async () => {
    const device = await smtpAuthDevice(mail);
    const { sender } = device.device.services;
    const socket = device.device.firmwareSocket;
    try {
      const pdfBase64 = PDF.toString('base64');
      const bad = await bridgeCall(socket, 'POST', '/scan-to-email', { to: ['ok@example.com', 'not an address'], pdfBase64 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'bad_request');
      assert.match(String(bad.body.message), /not an e-mail address/);
      for (const body of [{ to: [], pdfBase64 }, { to: 'ok@example.com', pdfBase64 }, { to: ['ok@example.com'] }, { to: ['ok@example.com'], pdfBase64: 'no*base64' }, { to: ['ok@example.com'], pdfBase64, pages: 0 }]) {
        const answer = await bridgeCall(socket, 'POST', '/scan-to-email', body);
        assert.equal(answer.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal(answer.body.error, 'bad_request');
        assert.equal(typeof answer.body.message, 'string');
      }
      const tooMany = await bridgeCall(socket, 'POST', '/scan-to-email', { to: Array.from({ length: 501 }, (_, i) => `u${i}@example.com`), pdfBase64 });
      assert.equal(tooMany.status, 400);
      const json = await bridgeCall(socket, 'POST', '/scan-to-email', Buffer.from('{"to": ["a@example.com"], "pdfBase64": "AAAA"'));
      assert.equal(json.status, 400);

      const big = Buffer.alloc(21 * 1024 * 1024, 0x25);
      const large = await bridgeCall(socket, 'POST', '/scan-to-email', { to: ['ok@example.com'], pdfBase64: big.toString('base64') });
      assert.equal(large.status, 413);
      assert.equal(large.body.error, 'too_large');

      // Under the body limit, but the PDF itself is over 20 MB.
      const over = await bridgeCall(socket, 'POST', '/scan-to-email', { to: ['ok@example.com'], pdfBase64: crypto.randomBytes(20 * 1024 * 1024 + 65536).toString('base64') });
      assert.equal(over.status, 413);
      assert.match(String(over.body.message), /larger than 20 MB/);
      const chunkedLarge = await bridgeCall(socket, 'POST', '/scan-to-email', { to: ['ok@example.com'], pdfBase64: big.toString('base64') }, { chunked: true });
      assert.equal(chunkedLarge.status, 413, 'also without a Content-Length');

      const notFound = await bridgeCall(socket, 'GET', '/nothing-here');
      assert.equal(notFound.status, 404);
      assert.equal(notFound.body.error, 'not_found');

      assert.deepEqual(sender.list(), [], 'nothing was queued');
      assert.deepEqual(sender.outbox.counts(), { queued: 0, held: 0, failed: 0 });

      // The bridge still works after all that.
      const ok = await bridgeCall(socket, 'POST', '/scan-to-email', { to: ['ok@example.com'], pdfBase64 });
      assert.equal(ok.status, 202);
    } finally {
      await device.close();
    }
  });

  test('SMTP not set up → 202 held: true, the outbox keeps the job', async () => {
    const device = await bootDevice();
    try {
      const answer = await bridgeCall<{ jobId: number; held: boolean }>(device.device.firmwareSocket, 'POST', '/scan-to-email', { to: ['ann@example.com'], pdfBase64: PDF.toString('base64') });
      assert.equal(answer.status, 202);
      assert.equal(answer.body.held, true);
      const { sender } = device.device.services;
      await waitFor(() => sender.outbox.get(answer.body.jobId)?.status === 'held', 'the job to be held');
      const status = await bridgeCall<Status>(device.device.firmwareSocket, 'GET', '/status');
      assert.deepEqual(status.body.outbox, { queued: 0, held: 1, failed: 0, sent: 0 });
      assert.deepEqual(status.body.tokens, { smtp: 'not_obtained', pop: 'not_obtained' });
    } finally {
      await device.close();
    }
  });
});

describe('firmware bridge: device status and e-mail alerts', () => {
  let mail: MailLab;
  before(async () => {
    mail = await startMailLab();
  });
  after(async () => mail.close());

  test('toner_low shows on the home page; alerts off → no mail; on → "[MFP-C131] Paper jam" to the recipients; only serious → no toner mail; cleared → Ready', async () => {
    const device = await smtpAuthDevice(mail);
    const socket = device.device.firmwareSocket;
    const panel = await device.panel();
    try {
      let home = textOf((await panel.get('/')).html);
      assert.match(home, /Printer condition\s+Ready/);

      const before = mail.smtp.received.length;
      const toner = await bridgeCall<{ eventId: number; alertJobId: number | null }>(socket, 'POST', '/events', { kind: 'toner_low', detail: 'Black (K) 8%' });
      assert.equal(toner.status, 202);
      assert.equal(typeof toner.body.eventId, 'number');
      assert.equal(toner.body.alertJobId, null, 'E-mail Alert is off by default');
      home = textOf((await panel.get('/')).html);
      assert.match(home, /Toner low — Black \(K\) 8%/);
      assert.match(home, /[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M [A-Z]/, 'when, in English with the time zone');
      assert.doesNotMatch(home, /Printer condition\s+Ready/);

      // Turn alerts on: two recipients, one per line.
      const saved = await panel.submit(ALERT_PAGE_PATH, { enabled: 'on', recipients: 'ops@example.com\r\nfacilities@example.com', events: 'all' });
      assert.equal(saved.status, 200);
      assert.match(textOf(saved.html), /The settings have been saved/);
      assert.match(saved.html, /ops@example.com\nfacilities@example.com<\/textarea>/);

      const jam = await bridgeCall<{ eventId: number; alertJobId: number | null }>(socket, 'POST', '/events', { kind: 'paper_jam', detail: 'Tray 2' });
      assert.equal(jam.status, 202);
      assert.equal(typeof jam.body.alertJobId, 'number');
      await waitFor(() => mail.smtp.received.length > before, 'the alert mail');
      await device.device.services.sender.idle();
      const alert = mail.smtp.received.at(-1)!;
      assert.deepEqual(alert.to.sort(), ['facilities@example.com', 'ops@example.com']);
      const raw = alert.raw.toString('utf8');
      assert.match(raw, /Subject: \[MFP-C131\] Paper jam/);
      assert.match(raw, /Detail: Tray 2/);
      assert.equal(mail.smtp.received.length, before + 1, 'only the paper jam mailed (toner was before alerts were on)');

      let status = await bridgeCall<Status>(socket, 'GET', '/status');
      assert.deepEqual(status.body.events.map((e) => [e.kind, e.detail]), [['toner_low', 'Black (K) 8%'], ['paper_jam', 'Tray 2']]);
      assert.ok(status.body.events.every((e) => typeof e.id === 'number' && typeof e.at === 'number'));
      assert.equal(status.body.outbox.sent, 1);

      // Only service call and paper jam: toner low is recorded, not mailed.
      assert.equal((await panel.submit(ALERT_PAGE_PATH, { enabled: 'on', recipients: 'ops@example.com', events: 'serious' })).status, 200);
      const toner2 = await bridgeCall<{ alertJobId: number | null }>(socket, 'POST', '/events', { kind: 'toner_low', detail: 'Black (K) 3%' });
      assert.equal(toner2.body.alertJobId, null);
      const call = await bridgeCall<{ alertJobId: number | null }>(socket, 'POST', '/events', { kind: 'service_call', detail: 'E-052' });
      assert.equal(typeof call.body.alertJobId, 'number');
      await waitFor(() => mail.smtp.received.length >= before + 2, 'the service call mail');
      await device.device.services.sender.idle();
      assert.match(mail.smtp.received.at(-1)!.raw.toString(), /Subject: \[MFP-C131\] Service call/);
      assert.equal(mail.smtp.received.length, before + 2);
      status = await bridgeCall<Status>(socket, 'GET', '/status');
      assert.deepEqual(status.body.events.map((e) => [e.kind, e.detail]), [['paper_jam', 'Tray 2'], ['toner_low', 'Black (K) 3%'], ['service_call', 'E-052']], 'a repeated condition replaces the older one');

      // Disabled → nothing mailed.
      assert.equal((await panel.submit(ALERT_PAGE_PATH, { enabled: 'off', recipients: 'ops@example.com', events: 'all' })).status, 200);
      const off = await bridgeCall<{ alertJobId: number | null }>(socket, 'POST', '/events', { kind: 'paper_jam' });
      assert.equal(off.body.alertJobId, null);

      const cleared = await bridgeCall<{ eventId: number; alertJobId: number | null }>(socket, 'POST', '/events', { kind: 'cleared' });
      assert.equal(cleared.status, 202);
      assert.equal(cleared.body.alertJobId, null);
      home = textOf((await panel.get('/')).html);
      assert.match(home, /Printer condition\s+Ready/);
      assert.doesNotMatch(home, /Toner low/);
      status = await bridgeCall<Status>(socket, 'GET', '/status');
      assert.deepEqual(status.body.events, []);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(mail.smtp.received.length, before + 2, 'no mail while disabled, none for cleared');

      const badKind = await bridgeCall(socket, 'POST', '/events', { kind: 'on_fire' });
      assert.equal(badKind.status, 400);
      assert.equal(badKind.body.error, 'bad_request');
    } finally {
      await device.close();
    }
  });

  test('the E-mail Alert page: in the menu; bad or too many addresses and a missing list are refused next to the field, nothing saved; CSRF required', async () => {
    const device = await bootDevice();
    const panel = await device.panel();
    try {
      const page = await panel.get(ALERT_PAGE_PATH);
      assert.equal(page.status, 200);
      assert.match(page.html, new RegExp(`href="${ALERT_PAGE_PATH}" aria-current="page"`));
      assert.match(textOf(page.html), /System Settings › System Control › E-mail Alert\/Status › E-mail Alert/);

      const six = Array.from({ length: 6 }, (_, i) => `p${i}@example.com`).join(', ');
      let answer = await panel.submit(ALERT_PAGE_PATH, { enabled: 'on', recipients: six, events: 'all' });
      assert.equal(answer.status, 400);
      assert.equal(fieldErrorOf(answer.html, 'recipients'), 'Enter at most 5 addresses.');
      answer = await panel.submit(ALERT_PAGE_PATH, { enabled: 'on', recipients: 'ops@example.com\nnot-an-address', events: 'all' });
      assert.equal(answer.status, 400);
      assert.equal(fieldErrorOf(answer.html, 'recipients'), 'Not an e-mail address: not-an-address');
      assert.match(answer.html, /ops@example.com\nnot-an-address<\/textarea>/, 'what was typed is shown again');
      answer = await panel.submit(ALERT_PAGE_PATH, { enabled: 'on', recipients: '', events: 'all' });
      assert.equal(answer.status, 400);
      assert.equal(fieldErrorOf(answer.html, 'recipients'), 'Enter a value.');
      answer = await panel.submit(ALERT_PAGE_PATH, { enabled: 'maybe', recipients: 'ops@example.com', events: 'everything' });
      assert.equal(answer.status, 400);
      assert.ok(fieldErrorOf(answer.html, 'enabled') && fieldErrorOf(answer.html, 'events'));
      assert.equal(device.device.services.settings.isSaved({ id: 'alert', title: 'alert.title', fields: [] }), false, 'nothing saved');

      const forged = await panel.request('POST', ALERT_PAGE_PATH, { enabled: 'on', recipients: 'evil@example.com', events: 'all' });
      assert.equal(forged.status, 403);

      answer = await panel.submit(ALERT_PAGE_PATH, { enabled: 'on', recipients: 'a@example.com, B@example.com; a@example.com', events: 'serious' });
      assert.equal(answer.status, 200);
      assert.match(answer.html, /a@example.com\nB@example.com<\/textarea>/, 'saved once each, shown one per line');
    } finally {
      await device.close();
    }
  });
});

describe('firmware bridge: POP check and the socket', () => {
  test('POST /pop/check on a device without POP settings → ok false with the problem; /status pop', async () => {
    const device = await bootDevice();
    try {
      const answer = await bridgeCall<{ ok: boolean; fetched: number; problem: { code: string; message: string } | null }>(device.device.firmwareSocket, 'POST', '/pop/check');
      assert.equal(answer.status, 200);
      assert.equal(answer.body.ok, false);
      assert.equal(answer.body.fetched, 0);
      assert.equal(answer.body.problem?.code, 'not_configured');
      assert.equal(answer.body.problem?.message, 'The E-mail Status settings are not complete.');
      const status = await bridgeCall<Status>(device.device.firmwareSocket, 'GET', '/status');
      assert.deepEqual(status.body.pop, { lastCheckAt: null, inbox: 0 });
    } finally {
      await device.close();
    }
  });

  test('POST /pop/check against Dovecot (USER/PASS): fetches the new mail, then nothing; a wrong password → ok false with the problem', { skip: dovecotAvailable() ? false : `${DOVECOT_BIN} is not installed` }, async () => {
    const user = 'legacy@lab.example';
    const password = 'legacy-password-0042';
    const pop = await startDovecotLab({ introspection: { url: 'http://unused:unused-secret@127.0.0.1:9/token/introspection' }, passwords: { [user]: password } });
    const device = await bootDevice();
    try {
      const panel = await device.panel();
      const save = (secret: string) =>
        panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '60', ssl: 'none', authMethod: 'plain', userName: user, password: secret });
      assert.equal((await save(password)).status, 200);
      for (const n of [1, 2]) await pop.deliver(user, `From: a@lab.example\r\nTo: ${user}\r\nSubject: Print ${n}\r\n\r\nbody ${n}\r\n`);
      const socket = device.device.firmwareSocket;
      type Check = { ok: boolean; fetched: number; problem: { code: string; message: string } | null };
      let check = await bridgeCall<Check>(socket, 'POST', '/pop/check');
      assert.deepEqual(check.body, { ok: true, fetched: 2, problem: null });
      check = await bridgeCall<Check>(socket, 'POST', '/pop/check');
      assert.deepEqual(check.body, { ok: true, fetched: 0, problem: null });
      const status = await bridgeCall<Status>(socket, 'GET', '/status');
      assert.equal(status.body.pop.inbox, 2);
      assert.equal(typeof status.body.pop.lastCheckAt, 'number');

      assert.equal((await save('wrong-password-0000')).status, 200);
      check = await bridgeCall<Check>(socket, 'POST', '/pop/check');
      assert.equal(check.body.ok, false);
      assert.equal(check.body.problem?.code, 'login');
      assert.match(check.body.problem?.message ?? '', /refused the User Name or Password/);
      assert.equal(device.logs.join('\n').includes(password), false, 'no password in the log');
    } finally {
      await device.close();
      await pop.close();
    }
  });

  test('the socket is 0600 in the data directory and gone after close; a second device has its own; a stale socket is replaced; MFP_FIRMWARE_SOCKET moves it', async () => {
    const first = await bootDevice();
    const second = await bootDevice();
    const socket1 = first.device.firmwareSocket;
    const socket2 = second.device.firmwareSocket;
    try {
      assert.equal(socket1, path.join(first.dataDir, 'firmware.sock'));
      assert.notEqual(socket1, socket2);
      for (const socket of [socket1, socket2]) {
        const stat = fs.lstatSync(socket);
        assert.ok(stat.isSocket());
        assert.equal(stat.mode & 0o777, 0o600);
      }
      await bridgeCall(socket1, 'POST', '/events', { kind: 'paper_jam' });
      const one = await bridgeCall<Status>(socket1, 'GET', '/status');
      const two = await bridgeCall<Status>(socket2, 'GET', '/status');
      assert.equal(one.body.events.length, 1);
      assert.equal(two.body.events.length, 0, 'each device has its own status');
    } finally {
      await first.close();
      await second.close();
    }
    assert.equal(fs.existsSync(socket1), false);
    assert.equal(fs.existsSync(socket2), false);

    // A socket file left behind by a device that died: a hard link to a socket nobody listens on.
    const dataDir = tempDir();
    const live = path.join(dataDir, 'live.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(live, resolve));
    fs.linkSync(live, path.join(dataDir, 'firmware.sock'));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const revived = await bootDevice(dataDir);
    try {
      assert.equal((await bridgeCall(revived.device.firmwareSocket, 'GET', '/status')).status, 200);
      // A live one is not taken over.
      await assert.rejects(bootDevice(dataDir), /Another device is already listening/);
    } finally {
      await revived.close();
    }

    const custom = path.join(tempDir(), 'fw.sock');
    const moved = await bootDevice(tempDir(), { MFP_FIRMWARE_SOCKET: custom });
    try {
      assert.equal(moved.device.firmwareSocket, custom);
      assert.equal((await bridgeCall(custom, 'GET', '/status')).status, 200);
    } finally {
      await moved.close();
    }
    assert.equal(fs.existsSync(custom), false);
  });
});

/** A raw connection to the bridge's socket: what it received, and whether the device closed it. */
function rawConnection(socketPath: string) {
  const socket = net.connect(socketPath);
  let received = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined); // EPIPE once the device closed it: expected
  return {
    socket,
    closed,
    received: () => received,
    /** Resolves with what came back once a whole answer head is there. */
    async answer(timeoutMs: number): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!received.includes('\r\n\r\n')) {
        if (Date.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms (got ${JSON.stringify(received.slice(0, 80))})`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return received;
    },
  };
}

describe('firmware bridge: stalled and oversized bodies', () => {
  let device: TestDevice;
  before(async () => {
    device = await bootDevice();
  });
  after(async () => device.close());

  test('a scan upload that stalls is given up after a few seconds of silence (408, closed); the next scan does not wait 120 s', { timeout: 30_000 }, async () => {
    const socketPath = device.device.firmwareSocket;
    const stalled = rawConnection(socketPath);
    const body = JSON.stringify({ to: ['a@example.com'], pdfBase64: PDF.toString('base64') });
    stalled.socket.write(`POST /scan-to-email HTTP/1.1\r\nHost: firmware\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 1000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const next = await bridgeCall(socketPath, 'POST', '/scan-to-email', { to: ['b@example.com'], pdfBase64: PDF.toString('base64') });
    const waited = Date.now() - started;
    assert.equal(next.status, 202, 'the second scan is queued');
    assert.ok(waited < 10_000, `it waited ${waited} ms, not 120 s`);
    assert.match(await stalled.answer(1000), /^HTTP\/1\.1 408 /);
    assert.match(stalled.received(), /"error":"timeout"/);
    await stalled.closed;
    assert.equal(device.device.services.sender.list().length, 1, 'only the complete scan was queued');
    assert.deepEqual(fs.readdirSync(path.join(device.dataDir, 'outbox')).filter((name) => !name.endsWith('.part')).length, 1, 'the stalled scan left no file');
  });

  test('an over-limit body gets 413 at once and its connection is closed, not read on', { timeout: 30_000 }, async () => {
    const socketPath = device.device.firmwareSocket;
    // Declared too large (an event may be 16 KB): answered before the body is sent.
    const declared = rawConnection(socketPath);
    declared.socket.write(`POST /events HTTP/1.1\r\nHost: firmware\r\nContent-Type: application/json\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n{"kind":"toner_low","detail":"`);
    assert.match(await declared.answer(3000), /^HTTP\/1\.1 413 /);
    assert.match(declared.received(), /connection: close/i);
    await declared.closed;

    // Not declared (chunked): the device stops at the limit, answers and closes while the client still sends.
    const chunked = rawConnection(socketPath);
    chunked.socket.write('POST /events HTTP/1.1\r\nHost: firmware\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const piece = 'x'.repeat(4096);
    let sent = 0;
    while (!chunked.received() && sent < 8 * 1024 * 1024 && !chunked.socket.destroyed) {
      chunked.socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      sent += piece.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.match(await chunked.answer(3000), /^HTTP\/1\.1 413 /);
    assert.ok(sent < 1024 * 1024, `answered after ${sent} bytes, not after the whole body`);
    await chunked.closed;
    assert.equal((await bridgeCall(socketPath, 'GET', '/status')).status, 200, 'the bridge serves the next request');
  });
});
