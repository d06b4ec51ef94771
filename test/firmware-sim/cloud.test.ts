/**
 * The simulated cloud's own parts: the fault vocabulary of the CLI, the control endpoint, the POP
 * fault proxy (against a tiny POP3 server standing in for Dovecot), and the generated PDF.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseFault, SMTP_REPLIES, startCloud, type Cloud } from '../../firmware-sim/cloud/index.js';
import { POP_REPLIES, startPopFaultProxy, type PopFaultProxy } from '../../firmware-sim/cloud/pop-fault-proxy.js';
import { makePdf } from '../../firmware-sim/pdf.js';

describe('fault vocabulary', () => {
  test('provider faults', () => {
    assert.deepEqual(parseFault('provider', 'slow_down'), { target: 'provider', fault: { kind: 'slow_down', endpoint: 'token' } });
    assert.deepEqual(parseFault('provider', '500', { count: 2 }), { target: 'provider', fault: { kind: 'server_error', endpoint: 'token', count: 2 } });
    assert.deepEqual(parseFault('provider', 'timeout', { on: 'any' }), { target: 'provider', fault: { kind: 'timeout', endpoint: 'any' } });
    assert.deepEqual(parseFault('provider', 'access_denied'), { target: 'provider', fault: { kind: 'access_denied' } });
    assert.deepEqual(parseFault('provider', 'password_reset', { account: 'x@lab.example' }), { target: 'provider', fault: { kind: 'password_reset', account: 'x@lab.example' } });
    assert.throws(() => parseFault('provider', 'earthquake'), /unknown provider fault/);
  });

  test('provider policies of issue 11: sign-in frequency, CAE challenge, clock skew', () => {
    assert.deepEqual(parseFault('provider', 'AADSTS70043'), { target: 'provider', fault: { kind: 'sign_in_frequency' } });
    assert.deepEqual(parseFault('provider', 'insufficient_claims'), { target: 'provider', fault: { kind: 'insufficient_claims' } });
    assert.deepEqual(parseFault('provider', 'insufficient_claims_strict'), { target: 'provider', fault: { kind: 'insufficient_claims', strict: true } });
    assert.deepEqual(parseFault('provider', 'clock_skew', { ms: -420_000 }), { target: 'provider', fault: { kind: 'clock_skew', ms: -420_000 } });
    assert.deepEqual(parseFault('provider', 'clock_skew'), { target: 'provider', fault: { kind: 'clock_skew', ms: 600_000 } });
  });

  test('SMTP faults: every DIGEST code, 454, a whole reply line, drop and slow', () => {
    for (const code of ['5.7.3', '5.7.139', '5.7.127', '5.5.121', '5.5.122', '5.5.123', '5.5.124', '5.5.125', '5.5.126', '5.5.127', '5.5.128', '5.5.129']) {
      const f = parseFault('smtp', code);
      assert.ok(f.target === 'smtp' && 'reply' in f.fault && f.fault.reply.split(' ')[1] === code, code);
      assert.match(SMTP_REPLIES[code]!, code.startsWith('5.5') ? /^501 / : /^535 /);
    }
    assert.deepEqual(parseFault('smtp', '454'), { target: 'smtp', fault: { reply: '454 4.7.0 Temporary authentication failure', on: 'auth' } });
    assert.deepEqual(parseFault('smtp', '550 5.1.1 User unknown', { on: 'rcpt', count: 1 }), { target: 'smtp', fault: { reply: '550 5.1.1 User unknown', on: 'rcpt', count: 1 } });
    assert.deepEqual(parseFault('smtp', 'drop'), { target: 'smtp', fault: { kind: 'drop' } });
    assert.deepEqual(parseFault('smtp', 'slow', { ms: 300 }), { target: 'smtp', fault: { kind: 'slow', ms: 300 } });
    assert.throws(() => parseFault('smtp', '5.9.999'), /no DIGEST reply/);
    assert.throws(() => parseFault('smtp', '535 x', { on: 'quit' }), /--on must be auth, mail, rcpt or data/);
  });

  test('POP faults', () => {
    assert.deepEqual(parseFault('pop', '[AUTH]'), { target: 'pop', fault: { kind: 'auth' } });
    assert.deepEqual(parseFault('pop', '[SYS/TEMP]'), { target: 'pop', fault: { kind: 'sys_temp' } });
    assert.deepEqual(parseFault('pop', 'challenge', { count: 2 }), { target: 'pop', fault: { kind: 'challenge', count: 2 } });
    assert.deepEqual(parseFault('pop', 'drop', { on: 'auth' }), { target: 'pop', fault: { kind: 'drop', at: 'auth' } });
    assert.throws(() => parseFault('pop', 'explode'), /unknown POP fault/);
  });
});

describe('control endpoint', () => {
  let cloud: Cloud;
  before(async () => {
    cloud = await startCloud({ pop: false, control: true });
  });
  after(async () => cloud.close());

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(new URL(path, cloud.controlUrl!), { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { state?: { faults: Record<string, string | null> } } };
  };

  test('on loopback; faults set, listed and cleared; bad requests refused', async () => {
    assert.match(cloud.controlUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
    let r = await call('POST', '/faults', { target: 'smtp', fault: { reply: SMTP_REPLIES['5.7.139'], on: 'auth' } });
    assert.equal(r.status, 200);
    assert.match(String(r.body.applied), /5\.7\.139/);
    r = await call('POST', '/faults', { target: 'provider', fault: { kind: 'server_error', endpoint: 'token', count: 1 } });
    assert.equal(r.status, 200);
    r = await call('GET', '/state');
    assert.match((r.body as { faults: Record<string, string> }).faults.smtp!, /5\.7\.139/);
    assert.match((r.body as { faults: Record<string, string> }).faults.provider!, /server_error/);
    // the provider fault is live: the token endpoint answers 500 once
    const token = await fetch(cloud.auth.endpoints.token, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }) });
    assert.equal(token.status, 500);
    await token.body?.cancel();
    r = await call('DELETE', '/faults');
    assert.deepEqual(r.body.state!.faults, { provider: null, smtp: null, pop: null });
    assert.equal((await call('POST', '/faults', { target: 'moon', fault: {} })).status, 400);
    assert.equal((await call('POST', '/faults', { target: 'smtp', fault: { reply: 'not a reply' } })).status, 400);
    assert.equal((await call('POST', '/faults', { target: 'pop', fault: { kind: 'auth' } })).status, 400, 'no POP server in this cloud');
    assert.equal((await call('GET', '/nothing')).status, 404);
  });

  test('access_denied: the next device code is declined at the consent page', async () => {
    await cloud.setFault({ target: 'provider', fault: { kind: 'access_denied' } });
    const device = await fetch(cloud.auth.endpoints.deviceAuthorization!, {
      method: 'POST',
      body: new URLSearchParams({ client_id: cloud.auth.device.clientId, client_secret: cloud.auth.device.clientSecret, scope: 'mail.smtp' }),
    });
    const { device_code: code } = (await device.json()) as { device_code: string };
    let error = '';
    for (let i = 0; i < 50 && (error === '' || error === 'authorization_pending'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const poll = await fetch(cloud.auth.endpoints.token, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: code, client_id: cloud.auth.device.clientId, client_secret: cloud.auth.device.clientSecret }),
      });
      error = ((await poll.json()) as { error?: string }).error ?? 'none';
    }
    assert.equal(error, 'access_denied');
    assert.ok(cloud.journal().some((line) => /declined the request/.test(line)));
  });
});

describe('POP fault proxy', () => {
  let upstream: net.Server;
  let proxy: PopFaultProxy;
  const seen: string[] = [];
  before(async () => {
    // A minimal POP3 server: greets, says +OK to everything, records the lines it gets.
    upstream = net.createServer((socket) => {
      socket.write('+OK fake POP3 ready\r\n');
      let buffer = '';
      socket.on('data', (d: Buffer) => {
        buffer += d.toString();
        for (let nl = buffer.indexOf('\r\n'); nl >= 0; nl = buffer.indexOf('\r\n')) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 2);
          seen.push(line);
          if (/^AUTH /i.test(line)) socket.write('+ \r\n');
          else if (line === 'QUIT') socket.end('+OK bye\r\n');
          else socket.write('+OK\r\n');
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    proxy = await startPopFaultProxy({ target: (upstream.address() as net.AddressInfo).port });
  });
  after(async () => {
    await proxy.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  /** Sends lines one at a time, each after the previous answer; returns every line received. */
  async function talk(lines: string[]): Promise<string[]> {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    const got: string[] = [];
    let buffer = '';
    let waiting: (() => void) | undefined;
    socket.on('data', (d: Buffer) => {
      buffer += d.toString();
      for (let nl = buffer.indexOf('\r\n'); nl >= 0; nl = buffer.indexOf('\r\n')) {
        got.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 2);
        waiting?.();
      }
    });
    const closed = new Promise<void>((r) => socket.on('close', () => { waiting?.(); r(); }));
    socket.on('error', () => {});
    const next = () => new Promise<void>((r) => { waiting = r; setTimeout(r, 1000); });
    await next(); // greeting
    for (const line of lines) {
      if (socket.destroyed) break;
      socket.write(`${line}\r\n`);
      await next();
    }
    socket.end();
    await closed;
    return got;
  }

  test('passes everything through without a fault', async () => {
    assert.deepEqual(await talk(['CAPA', 'AUTH XOAUTH2', 'dXNlcj0=']), ['+OK fake POP3 ready', '+OK', '+ ', '+OK']);
  });

  test('[AUTH], [SYS/TEMP], the challenge: answered by the proxy, upstream never sees the credentials', async () => {
    proxy.setFault({ kind: 'auth', count: 1 });
    seen.length = 0;
    assert.deepEqual(await talk(['AUTH XOAUTH2', 'secret-credentials']), ['+OK fake POP3 ready', '+ ', POP_REPLIES.auth]);
    assert.ok(!seen.includes('secret-credentials'));
    assert.equal(proxy.fault, null, 'count 1 consumed');

    proxy.setFault({ kind: 'sys_temp', count: 1 });
    assert.deepEqual(await talk(['AUTH XOAUTH2 aW5pdGlhbA==']), ['+OK fake POP3 ready', POP_REPLIES.sys_temp], 'initial response on the AUTH line');

    proxy.setFault({ kind: 'challenge', count: 1 });
    const got = await talk(['AUTH XOAUTH2', 'credentials', '']);
    assert.deepEqual(got, ['+OK fake POP3 ready', '+ ', POP_REPLIES.challenge, POP_REPLIES.auth]);
    assert.deepEqual(JSON.parse(Buffer.from(POP_REPLIES.challenge.slice(2), 'base64').toString()), { status: '401', schemes: 'bearer', scope: 'mail.pop' });
  });

  test('drop on connect and at AUTH; slow replies', async () => {
    proxy.setFault({ kind: 'drop', count: 1 });
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.on('close', () => r()));
    proxy.setFault({ kind: 'drop', at: 'auth', count: 1 });
    assert.deepEqual(await talk(['CAPA', 'AUTH XOAUTH2', 'x']), ['+OK fake POP3 ready', '+OK']);
    proxy.setFault({ kind: 'slow', ms: 300, count: 1 });
    const t0 = Date.now();
    await talk(['NOOP']);
    assert.ok(Date.now() - t0 >= 550, 'the greeting and the answer each came 300 ms late');
    assert.ok(proxy.injected.some((l) => /dropped/.test(l)));
  });
});

describe('generated PDF', () => {
  test('a valid file: header, one page object per page, xref offsets pointing at their objects', () => {
    const pdf = makePdf(3, 'Quarterly (draft)');
    const text = pdf.toString('latin1');
    assert.ok(text.startsWith('%PDF-1.4\n'));
    assert.ok(text.trimEnd().endsWith('%%EOF'));
    assert.match(text, /\/Count 3/);
    assert.equal(text.match(/\/Type \/Page /g)?.length, 3);
    const startxref = Number(/startxref\n(\d+)/.exec(text)![1]);
    assert.ok(text.slice(startxref).startsWith('xref\n'));
    const entries = [...text.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    entries.forEach((offset, i) => assert.ok(text.slice(offset).startsWith(`${i + 1} 0 obj\n`), `object ${i + 1} at its offset`));
    assert.match(text, /\(Quarterly \\\(draft\\\)\)/, 'parentheses escaped');
  });
});
