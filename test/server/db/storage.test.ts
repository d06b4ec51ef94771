/**
 * The storage failing under the device: full (a real full file system: a 4 MiB tmpfs filled to the
 * last byte), or the database deleted or replaced while the device runs. The panel keeps working for
 * reading, says what is wrong on the home page, refuses changes with a clear page (never "saved"),
 * the firmware bridge answers 503 so the printer keeps its job, and a full storage resumes by itself.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { textOf, type PanelClient } from '../../../firmware-sim/panel-client.js';
import { en } from '../../../server/i18n/en.js';
import { smtpForm } from '../../../server/settings/pages.js';
import { freePort } from '../../../firmware-sim/free-port.js';
import { startSmtpLab, type SmtpLab } from '../../../firmware-sim/cloud/smtp-server.js';
import { bridgeCall } from '../firmware/bridge-helpers.js';
import { waitFor } from '../mail/sender-helpers.js';
import { bootDevice, tempDir, type TestDevice } from '../../helpers/device.js';

const SMTP = { primaryServer: '127.0.0.1', port: '2525', timeout: '5', senderName: 'Scanner', senderAddress: 'scanner@example.com', ssl: 'none', authMethod: 'none' };
const PDF = Buffer.from('%PDF-1.4 storage test').toString('base64');

async function saveServer(panel: PanelClient, server: string) {
  return panel.saveSettings('smtp', { ...SMTP, primaryServer: server });
}

const savedServer = (dev: TestDevice) => String(dev.device.services.settings.values(smtpForm).primaryServer ?? '');

/** A tmpfs of `size` at a fresh directory, or why it cannot be mounted here (not root, no CAP_SYS_ADMIN). */
function mountTmpfs(size: string): { dir: string; unmount(): void } | string {
  const dir = tempDir('mfp-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    return `cannot mount a tmpfs here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file until the file system refuses (ENOSPC), to the last byte. */
function fill(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [1 << 16, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

test('a full storage: the device starts, serves the panel, says so, refuses saves, and resumes when space returns', async (t) => {
  const mount = mountTmpfs('4m');
  if (typeof mount === 'string') return t.skip(mount);
  let dev: TestDevice | undefined;
  let smtp: SmtpLab | undefined;
  try {
    const dataDir = path.join(mount.dir, 'data');
    dev = await bootDevice(dataDir);
    const smtpPort = await freePort();
    assert.equal((await (await dev.panel()).saveSettings('smtp', { ...SMTP, port: String(smtpPort) })).status, 200);
    // A mail queued before the storage filled up; its mail server is not up yet, so it waits.
    dev.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 300 });
    const { id } = dev.device.services.sender.enqueue({ to: 'lena@example.com', subject: 'Queued before', text: 'x' });
    await waitFor(() => (dev!.device.services.sender.outbox.get(id)?.attempts ?? 0) > 0, 'a first failed attempt');
    await dev.close();

    const filler = path.join(mount.dir, 'filler');
    fill(filler);
    smtp = await startSmtpLab({ port: smtpPort, authOptional: true });
    dev = await bootDevice(dataDir);
    dev.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 300, holdPollMs: 100 });
    const panel = await dev.panel();
    const home = await panel.get('/');
    assert.equal(home.status, 200);
    assert.ok(textOf(home.html).includes(en['storage.full.title']), 'the home page says the storage is full');
    assert.ok(textOf(home.html).includes(en['storage.full.text']), 'and that changes are refused');

    const refused = await saveServer(panel, 'mail-during.example.com');
    assert.equal(refused.status, 507);
    assert.ok(textOf(refused.html).includes(en['storage.refused.full']), 'a save is refused with a clear page');
    assert.equal(savedServer(dev), '127.0.0.1', 'nothing changed');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(dev.device.services.sender.outbox.get(id), 'the queued mail is still queued');
    assert.equal(smtp.received.length, 0, 'not sent while its delivery could not be recorded (it would go again at every retry)');

    const scan = await bridgeCall(dev.device.firmwareSocket, 'POST', '/scan-to-email', { to: ['lena@example.com'], pdfBase64: PDF });
    assert.equal(scan.status, 503, 'the printer is told to try again later');
    assert.equal((scan.body as { message?: string }).message, en['firmware.error.storageFull']);

    // Space returns: the mail goes out once, the next page no longer says full, and saves work again.
    fs.rmSync(filler);
    await waitFor(() => dev!.device.services.sender.outbox.get(id) === undefined, 'the queued mail to be sent');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(smtp.received.filter((m) => m.raw.toString().includes('Subject: Queued before')).length, 1, 'sent exactly once');
    const after = await panel.get('/');
    assert.ok(!textOf(after.html).includes(en['storage.full.title']), 'the notice is gone once space returned');
    const saved = await panel.saveSettings('smtp', { ...SMTP, port: String(smtpPort), senderName: 'Scanner after' });
    assert.equal(saved.status, 200);
    assert.ok(textOf(saved.html).includes(en['common.saved']));
    assert.equal(dev.device.services.settings.values(smtpForm).senderName, 'Scanner after');
    const accepted = await bridgeCall(dev.device.firmwareSocket, 'POST', '/scan-to-email', { to: ['lena@example.com'], pdfBase64: PDF });
    assert.equal(accepted.status, 202, 'the printer\'s scan is taken again');
  } finally {
    await dev?.close();
    await smtp?.close();
    mount.unmount();
  }
});

for (const [what, breakIt] of [
  ['deleted', (dataDir: string) => fs.rmSync(dataDir, { recursive: true, force: true })],
  [
    'replaced',
    (dataDir: string) => {
      const file = path.join(dataDir, 'device.db');
      fs.copyFileSync(file, `${file}.copy`);
      fs.renameSync(`${file}.copy`, file);
    },
  ],
] as const) {
  test(`the database ${what} while running: saves are refused with a clear page, the home page says so`, async () => {
    const dev = await bootDevice();
    try {
      const panel = await dev.panel();
      assert.equal((await saveServer(panel, 'mail-before.example.com')).status, 200);
      breakIt(dev.dataDir);

      const refused = await saveServer(panel, 'mail-after.example.com');
      assert.equal(refused.status, 503, 'not "saved" into a database nobody will read');
      assert.ok(textOf(refused.html).includes(en['storage.refused.gone']));
      assert.ok(!textOf(refused.html).includes(en['common.saved']));
      const home = textOf((await panel.get('/')).html);
      assert.ok(home.includes(en['storage.gone.title']), 'the home page says so');
      if (what === 'replaced') {
        const scan = await bridgeCall(dev.device.firmwareSocket, 'POST', '/scan-to-email', { to: ['max@example.com'], pdfBase64: PDF });
        assert.equal(scan.status, 503, 'the printer keeps its job');
        assert.equal((scan.body as { message?: string }).message, en['firmware.error.storageGone']);
      }
    } finally {
      await dev.close();
    }
  });
}

test('the database deleted while nobody saves: the home page says so within a second', async () => {
  const dev = await bootDevice();
  try {
    const panel = await dev.panel();
    assert.ok(!textOf((await panel.get('/')).html).includes(en['storage.gone.title']));
    fs.rmSync(dev.dataDir, { recursive: true, force: true });
    // A page looks at the database file at most once a second (a change looks at once: the tests above).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(textOf((await panel.get('/')).html).includes(en['storage.gone.title']), 'the home page says so, no save needed');
  } finally {
    await dev.close();
  }
});
