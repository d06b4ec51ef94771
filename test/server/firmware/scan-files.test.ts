/**
 * Scans live on disk while queued: the bridge streams the PDF into <data dir>/outbox/, the outbox row
 * names the file, nodemailer streams it out, and the file goes when the job is sent or deleted.
 * Real peers: the device's Unix socket and the lab SMTP server (authentication None).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSmtpLab, type SmtpLab } from '../../../firmware-sim/cloud/smtp-server.js';
import { textOf } from '../../../firmware-sim/panel-client.js';
import { bootDevice, type TestDevice } from '../../helpers/device.js';
import { waitFor } from '../mail/sender-helpers.js';
import { attachmentOf, bridgeCall } from './bridge-helpers.js';

const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'), crypto.randomBytes(5000), Buffer.from('\n%%EOF\n')]);

const outboxDir = (device: TestDevice) => path.join(device.dataDir, 'outbox');
const filesIn = (dir: string) => fs.readdirSync(dir).sort();
const mode = (file: string) => fs.statSync(file).mode & 0o777;

async function saveSmtpNone(device: TestDevice, smtp: SmtpLab): Promise<void> {
  const panel = await device.panel();
  const saved = await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '10', senderName: 'Scanner', senderAddress: 'scanner@lab.example', ssl: 'none', authMethod: 'none' });
  assert.equal(saved.status, 200);
}

async function scan(device: TestDevice, pdf: Buffer, to: string[], fileName = 'scan.pdf'): Promise<number> {
  const answer = await bridgeCall<{ jobId: number; held: boolean }>(device.device.firmwareSocket, 'POST', '/scan-to-email', { to, fileName, pdfBase64: pdf.toString('base64') });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  return answer.body.jobId;
}

describe('scan attachments as files in the outbox', () => {
  let smtp: SmtpLab;
  before(async () => {
    // 64 MiB: a 20 MB PDF is ~28 MB once base64 in the message.
    smtp = await startSmtpLab({ authOptional: true, size: 64 * 1024 * 1024 });
  });
  after(async () => smtp.close());

  test('the file is 0600 (directory 0700) holding the PDF while the job waits; gone after Delete and after delivery', async () => {
    const device = await bootDevice();
    const { sender } = device.device.services;
    sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 200, holdPollMs: 100 });
    try {
      // SMTP not set up: the job is held.
      const held = await scan(device, PDF, ['ann@example.com'], 'held.pdf');
      await waitFor(() => sender.outbox.get(held)?.status === 'held', 'the job to be held');
      const dir = outboxDir(device);
      assert.equal(mode(dir), 0o700);
      const [file] = sender.outbox.attachmentFiles(held);
      assert.equal(path.dirname(file!.path), dir);
      assert.deepEqual(filesIn(dir), [path.basename(file!.path)], 'one file, no temporary left');
      assert.equal(mode(file!.path), 0o600);
      assert.ok(fs.readFileSync(file!.path).equals(PDF), 'the file holds the PDF');
      assert.equal(file!.size, PDF.length);
      assert.equal((device.device.services.db.prepare('SELECT content FROM outbox_attachments WHERE job_id = ?').pluck().get(held) as Buffer | null), null, 'not in SQLite');

      // Delete on the home page.
      const panel = await device.panel();
      const home = textOf((await panel.submit(`/outbox/${held}/delete`, {}, '/')).html);
      assert.match(home, /deleted from the outbox/);
      assert.deepEqual(filesIn(dir), [], 'Delete removes the file');

      // Queued and failing (a temporary 451), then delivered.
      await saveSmtpNone(device, smtp);
      smtp.setFault({ reply: '451 4.3.0 Try again later', on: 'mail' });
      const before = smtp.received.length;
      const queued = await scan(device, PDF, ['ben@example.com', 'cat@example.com'], 'queued.pdf');
      await waitFor(() => (sender.outbox.get(queued)?.attempts ?? 0) >= 1, 'a failed attempt');
      assert.equal(sender.outbox.get(queued)?.status, 'queued');
      const [waiting] = sender.outbox.attachmentFiles(queued);
      assert.equal(mode(waiting!.path), 0o600);
      assert.deepEqual(filesIn(dir), [path.basename(waiting!.path)]);
      smtp.setFault(null);
      await waitFor(() => smtp.received.length > before, 'the scan to arrive');
      await sender.idle();
      assert.equal(sender.outbox.get(queued), undefined, 'sent');
      assert.ok(attachmentOf(smtp.received.at(-1)!.raw, 'queued.pdf')?.equals(PDF), 'the PDF arrives byte for byte');
      assert.deepEqual(filesIn(dir), [], 'delivery removes the file');
    } finally {
      smtp.setFault(null);
      await device.close();
    }
  });

  test('a restart with a queued scan delivers the same bytes, in batches of 50 each from the file', async () => {
    let device = await bootDevice();
    try {
      await saveSmtpNone(device, smtp);
      const { sender } = device.device.services;
      sender.setRetryPolicy({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
      smtp.setFault({ kind: 'drop' });
      const to = Array.from({ length: 60 }, (_, i) => `reader${i}@example.com`);
      const id = await scan(device, PDF, to, 'reboot.pdf');
      await waitFor(() => (sender.outbox.get(id)?.attempts ?? 0) >= 1, 'a failed attempt');
      const [file] = sender.outbox.attachmentFiles(id);
      const before = smtp.received.length;
      smtp.setFault(null);
      device = await device.restart();
      const restarted = device.device.services.sender;
      await waitFor(() => smtp.received.length >= before + 2, 'both batches after boot');
      await restarted.idle();
      const batches = smtp.received.slice(before);
      assert.deepEqual(batches.map((b) => b.to.length), [50, 10]);
      for (const batch of batches) assert.ok(attachmentOf(batch.raw, 'reboot.pdf')?.equals(PDF), 'the same bytes in every batch');
      assert.deepEqual(restarted.list(), []);
      assert.equal(fs.existsSync(file!.path), false, 'the file went with the job');
    } finally {
      smtp.setFault(null);
      await device.close();
    }
  });

  test('at start, files no job names (a crash mid-scan or mid-delete) are swept; a held job keeps its file', async () => {
    let device = await bootDevice();
    try {
      const id = await scan(device, PDF, ['dan@example.com']);
      await waitFor(() => device.device.services.sender.outbox.get(id)?.status === 'held', 'the job to be held');
      const [kept] = device.device.services.sender.outbox.attachmentFiles(id);
      const dir = outboxDir(device);
      const orphans = [`${crypto.randomUUID()}.bin`, `${crypto.randomUUID()}.bin.part`];
      for (const name of orphans) fs.writeFileSync(path.join(dir, name), 'left by a crash', { mode: 0o600 });
      device = await device.restart();
      assert.deepEqual(filesIn(dir), [path.basename(kept!.path)], 'orphans swept, the held job keeps its file');
      assert.ok(device.logs.some((line) => line.includes('outbox attachment files recovered') && line.includes('"swept":2')));
      assert.ok(device.device.services.sender.outbox.attachments(id)[0]!.content.equals(PDF));
    } finally {
      await device.close();
    }
  });

  test('a queued scan whose file was removed behind the device fails at once with the reason, not retried for days', async () => {
    const device = await bootDevice();
    const { sender } = device.device.services;
    sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 200, holdPollMs: 100 });
    try {
      const id = await scan(device, PDF, ['gus@example.com'], 'lost.pdf');
      await waitFor(() => sender.outbox.get(id)?.status === 'held', 'the job to be held');
      fs.rmSync(sender.outbox.attachmentFiles(id)[0]!.path);
      const before = smtp.received.length;
      await saveSmtpNone(device, smtp);
      await waitFor(() => sender.outbox.get(id)?.status === 'failed', 'the job to fail');
      assert.equal(sender.outbox.get(id)!.reason?.code, 'attachment_missing');
      assert.equal(smtp.received.length, before, 'nothing sent without the attachment');
      const home = textOf((await (await device.panel()).get('/')).html);
      assert.match(home, /The file attached to this mail is missing/);
    } finally {
      await device.close();
    }
  });

  test('refused or abandoned scans leave no file behind', async () => {
    const device = await bootDevice();
    const socket = device.device.firmwareSocket;
    try {
      const pdfBase64 = PDF.toString('base64');
      const refused = [
        { to: ['ok@example.com', 'not an address'], pdfBase64 }, // refused by enqueue, after the file was complete
        { to: ['ok@example.com'], pdfBase64: `${pdfBase64.slice(0, 400)}*${pdfBase64.slice(401)}` }, // bad base64
        { to: ['ok@example.com'], pdfBase64, pages: 0 },
        { to: ['ok@example.com'], pdfBase64: '' },
        { to: ['ok@example.com'], pdfBase64: crypto.randomBytes(20 * 1024 * 1024 + 65536).toString('base64') }, // 413 mid-stream
      ];
      for (const body of refused) {
        const answer = await bridgeCall(socket, 'POST', '/scan-to-email', body, { chunked: true });
        assert.ok([400, 413].includes(answer.status), `${answer.status} ${JSON.stringify(answer.body)}`);
      }
      assert.deepEqual(filesIn(outboxDir(device)), []);
      // The firmware dies halfway through a body: the partial file (seen being written) goes too.
      const request = http.request({ socketPath: socket, method: 'POST', path: '/scan-to-email', headers: { 'content-type': 'application/json', 'content-length': 4 * 1024 * 1024 } });
      request.on('error', () => undefined);
      request.write(`{"to":["ok@example.com"],"pdfBase64":"${crypto.randomBytes(1024 * 1024).toString('base64')}`);
      await waitFor(() => filesIn(outboxDir(device)).some((name) => name.endsWith('.part')), 'the partial file');
      request.destroy();
      await waitFor(() => filesIn(outboxDir(device)).length === 0, 'the abandoned file to be removed', 5_000);
      assert.deepEqual(device.device.services.sender.list(), []);
    } finally {
      await device.close();
    }
  });

  test('a 20 MB scan is delivered byte-identical', async () => {
    const device = await bootDevice();
    try {
      await saveSmtpNone(device, smtp);
      const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(20 * 1024 * 1024 - 16), Buffer.from('\n%%EOF\n')]);
      assert.equal(pdf.length, 20 * 1024 * 1024);
      const before = smtp.received.length;
      const id = await scan(device, pdf, ['eve@example.com', 'fay@example.com'], 'big.pdf');
      await waitFor(() => smtp.received.length > before, 'the 20 MB scan', 60_000);
      await device.device.services.sender.idle();
      const received = smtp.received.at(-1)!;
      assert.deepEqual(received.to.sort(), ['eve@example.com', 'fay@example.com']);
      const out = attachmentOf(received.raw, 'big.pdf');
      assert.equal(out?.length, pdf.length);
      assert.equal(crypto.createHash('sha256').update(out!).digest('hex'), crypto.createHash('sha256').update(pdf).digest('hex'));
      assert.equal(device.device.services.sender.outbox.get(id), undefined);
      assert.deepEqual(filesIn(outboxDir(device)), []);
    } finally {
      await device.close();
    }
  });
});
