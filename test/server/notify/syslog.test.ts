/** The RFC 5424 line and its TCP framing (RFC 6587 octet counting), read by a real TCP listener. */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { formatSyslog, sendSyslog } from '../../../server/notify/syslog.js';

test('RFC 5424: priority, version, time, host, app, msgid, structured data escaped, UTF-8 message on one line', () => {
  const line = formatSyslog({ severity: 'warning', msgId: 'token-sign-in-soon', params: { provider: 'Lab "A" [x]', account: 'a\\b@example.com' }, text: 'Ends soon:\nsign in — again', at: Date.UTC(2026, 11, 3, 6, 30) }, 'printer one');
  assert.equal(line, '<132>1 2026-12-03T06:30:00.000Z printerone mfp-panel - token-sign-in-soon [token@32473 provider="Lab \\"A\\" [x\\]" account="a\\\\b@example.com"] \ufeffEnds soon: sign in — again');
});

test('TCP: the line goes out with its octet count', async () => {
  const received: Buffer[] = [];
  const server = net.createServer((socket) => socket.on('data', (chunk) => received.push(chunk)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const line = formatSyslog({ severity: 'error', msgId: 'token-invalid', params: {}, text: 'Invalid — é', at: 0 }, 'mfp');
    await sendSyslog({ transport: 'tcp', host: '127.0.0.1', port: (server.address() as AddressInfo).port }, line);
    for (let i = 0; i < 50 && !received.length; i++) await new Promise((r) => setTimeout(r, 10));
    const bytes = Buffer.byteLength(line);
    assert.equal(Buffer.concat(received).toString('utf8'), `${bytes} ${line}`);
    assert.match(line, /^<131>1 1970-01-01T00:00:00.000Z mfp mfp-panel - token-invalid - \ufeff/);
  } finally {
    server.close();
  }
});

test('TCP: nobody listening is an error, not a hang', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(sendSyslog({ transport: 'tcp', host: '127.0.0.1', port }, 'x', 2_000));
});
