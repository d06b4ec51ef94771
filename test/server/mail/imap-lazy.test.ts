/**
 * The device pays for IMAP only when it checks IMAP: a device checking POP3 never loads imapflow
 * (idle RSS ≤ 64 MB); the first IMAP check does. Seen from the process's own module resolution.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tempDir } from '../../helpers/device.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// In a child process: a device checks a POP3 server, then the same page switched to IMAP (nothing
// listens on port 9, so each check fails at once: the point is which client it used).
const child = `
import fs from 'node:fs';
const { bootDevice } = await import(${JSON.stringify(path.join(here, '../../helpers/device.js'))});
const { PAGE_PATHS } = await import(${JSON.stringify(path.join(here, '../../../firmware-sim/panel-client.js'))});
const seen = () => fs.readFileSync(process.env.RECORD_IMPORTS_FILE, 'utf8').split('\\n').filter(Boolean);
const device = await bootDevice();
const panel = await device.panel();
await panel.saveSettings('pop', { protocol: 'pop3', server: '127.0.0.1', port: '9', checkInterval: '60', ssl: 'none', authMethod: 'plain', userName: 'u', password: 'p4ssword' });
await panel.submit(PAGE_PATHS.pop + '/check', { from: 'settings' }, PAGE_PATHS.pop);
const afterPop = seen();
await panel.changeSettings('pop', { protocol: 'imap', imapPort: '9', folder: 'INBOX' });
const page = await panel.submit(PAGE_PATHS.pop + '/check', { from: 'settings' }, PAGE_PATHS.pop);
const afterImap = seen();
await device.close();
process.stdout.write(JSON.stringify({ afterPop, afterImap, imapWords: page.html.includes('The IMAP server could not be reached') }));
`;

test('checking POP3 never loads imapflow; the first IMAP check does', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('imports-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'imports.txt');
  fs.writeFileSync(file, '');
  // A script file, not --input-type with -e: Node 20 refuses --input-type once a resolve hook is registered.
  const script = path.join(dir, 'child.mjs');
  fs.writeFileSync(script, child);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', path.join(here, '../../helpers/record-imports.js'), script], { env: { ...process.env, RECORD_IMPORTS_FILE: file }, timeout: 50_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  const { afterPop, afterImap, imapWords } = JSON.parse(out) as { afterPop: string[]; afterImap: string[]; imapWords: boolean };
  assert.ok(afterPop.includes('fastify'), 'the recorder sees the device\'s packages');
  assert.equal(afterPop.includes('imapflow'), false, 'a POP3 check does not load imapflow');
  assert.equal(afterImap.includes('imapflow'), true, 'the IMAP check loads it');
  assert.equal(imapWords, true, 'and reports in IMAP\'s words');
});
