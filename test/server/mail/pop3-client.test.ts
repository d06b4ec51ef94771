// The POP3 client against a scripted TCP server (byte-level cases) and against a real Dovecot.
import { test, describe, before, after } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import util from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectPop3, Pop3Error } from '../../../server/mail/pop3-client.js';
import type { Pop3Session, Pop3ErrorKind } from '../../../server/mail/pop3-client.js';

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Scripted server: each connection runs a script that reads client lines and writes raw bytes.

class ServerConn {
  private buf = '';
  private lines: string[] = [];
  private waiters: Array<(line: string | null) => void> = [];
  private closed = false;
  readonly received: string[] = [];

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let nl: number;
      while ((nl = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 2);
        this.received.push(line);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }

  /** The client's next line, or null once it has closed the connection. */
  readLine(): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.closed) return Promise.resolve(null);
    return new Promise((r) => this.waiters.push(r));
  }

  async expect(expected: string | RegExp): Promise<string> {
    const line = await this.readLine();
    if (line === null) throw new Error(`client closed; expected ${String(expected)}`);
    if (typeof expected === 'string') assert.equal(line, expected);
    else assert.match(line, expected);
    return line;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** One byte per TCP segment: the client must reassemble replies from any chunking. */
  async sendBytewise(data: string | Buffer): Promise<void> {
    const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    for (let i = 0; i < b.length; i++) {
      this.socket.write(b.subarray(i, i + 1));
      await delay(1);
    }
  }

  /** Server side of STLS: wrap the socket in TLS and continue the script on it. */
  upgrade(cert: { cert: Buffer; key: Buffer }): ServerConn {
    this.socket.removeAllListeners('data');
    const secure = new tls.TLSSocket(this.socket, { isServer: true, cert: cert.cert, key: cert.key });
    return new ServerConn(secure);
  }
}

interface Scripted {
  port: number;
  /** Settles when the first connection's script ends; rejects with its assertion error. */
  done: Promise<void>;
  close(): Promise<void>;
}

async function scripted(t: TestContext, script: (c: ServerConn) => Promise<void>): Promise<Scripted> {
  const sockets = new Set<net.Socket>();
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  done.catch(() => {}); // tests that do not await it must not see an unhandled rejection
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    script(new ServerConn(s)).then(resolveDone, rejectDone);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  t.after(close);
  return { port, done, close };
}

const opts = (port: number, timeoutMs = 2000) => ({ host: '127.0.0.1', port, security: 'none' as const, timeoutMs });

async function rejectsWith(p: Promise<unknown>, kind: Pop3ErrorKind): Promise<Pop3Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Pop3Error, `expected a Pop3Error, got ${util.inspect(e)}`);
    assert.equal(e.kind, kind, `kind of ${e.message}`);
    return e;
  }
  assert.fail(`expected a Pop3Error of kind ${kind}`);
}

/** No secret may appear in a transcript or an error (message, response, stack, cause). */
function assertNoSecrets(secrets: string[], ...things: unknown[]): void {
  const text = things.map((x) => (x instanceof Error ? util.inspect(x, { depth: 5 }) + x.message : JSON.stringify(x))).join('\n');
  for (const s of secrets) assert.ok(!text.includes(s), `secret leaked: ${s.slice(0, 3)}…`);
}

const GREETING = '+OK scripted POP3 ready\r\n';
const xoauth2 = (user: string, token: string) => Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`).toString('base64');

let certCache: { cert: Buffer; key: Buffer; certFile: string; keyFile: string; dir: string } | null | undefined;
/** A throwaway self-signed cert for 127.0.0.1/localhost (node's crypto cannot make X.509). */
function selfSignedCert(): typeof certCache {
  if (certCache !== undefined) return certCache;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pop3-cert-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore', timeout: 10_000 });
    certCache = { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile, dir };
  } catch {
    rmSync(dir, { recursive: true, force: true });
    certCache = null;
  }
  return certCache;
}
after(() => {
  if (certCache) rmSync(certCache.dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('POP3 client against a scripted server', () => {
  test('a full session with every reply split byte by byte', async (t) => {
    const srv = await scripted(t, async (c) => {
      await c.sendBytewise(GREETING);
      await c.expect('CAPA');
      await c.sendBytewise('+OK\r\nUSER\r\nUIDL\r\nSASL XOAUTH2\r\n.\r\n');
      await c.expect('USER alice');
      await c.sendBytewise('+OK\r\n');
      await c.expect('PASS pa55-word-secret');
      await c.sendBytewise('+OK logged in\r\n');
      await c.expect('STAT');
      await c.sendBytewise('+OK 2 320\r\n');
      await c.expect('UIDL');
      await c.sendBytewise('+OK\r\n1 uid-a\r\n2 uid-b\r\n.\r\n');
      await c.expect('RETR 2');
      await c.sendBytewise('+OK 20 octets\r\nSubject: hi\r\n\r\nbody\r\n.\r\n');
      await c.expect('DELE 2');
      await c.sendBytewise('+OK deleted\r\n');
      await c.expect('QUIT');
      await c.sendBytewise('+OK bye\r\n');
      c.socket.end();
    });
    const s = await connectPop3(opts(srv.port));
    assert.equal(s.greeting, '+OK scripted POP3 ready');
    assert.deepEqual(await s.capabilities(), ['USER', 'UIDL', 'SASL XOAUTH2']);
    await s.loginWithPassword('alice', 'pa55-word-secret');
    assert.deepEqual(await s.stat(), { count: 2, size: 320 });
    assert.deepEqual([...(await s.uidl())], [['uid-a', 1], ['uid-b', 2]]);
    assert.equal((await s.retrieve(2)).toString(), 'Subject: hi\r\n\r\nbody\r\n');
    await s.delete(2);
    await s.quit();
    await srv.done;
    assert.ok(s.transcript.some((l) => l.direction === 'client' && l.text === 'PASS ********'));
    assertNoSecrets(['pa55-word-secret'], s.transcript);
  });

  test('several replies in one write, and a multi-line reply glued to the next one', async (t) => {
    const srv = await scripted(t, async (c) => {
      // Greeting and the CAPA answer arrive before the client even asks.
      c.send(GREETING + '+OK\r\nUIDL\r\n.\r\n');
      await c.expect('CAPA');
      await c.expect('UIDL');
      c.send('+OK\r\n1 a\r\n.\r\n+OK 1 5\r\n');
      await c.expect('STAT');
      await c.expect('QUIT');
      c.send('+OK\r\n');
    });
    const s = await connectPop3(opts(srv.port));
    assert.deepEqual(await s.capabilities(), ['UIDL']);
    assert.deepEqual([...(await s.uidl())], [['a', 1]]);
    assert.deepEqual(await s.stat(), { count: 1, size: 5 });
    await s.quit();
    await srv.done;
  });

  test('RETR is dot-unstuffed and binary-safe', async (t) => {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    // What the mailbox holds: dot-led lines, a lone dot, bare LF and CR, every byte value.
    const message = Buffer.concat([
      Buffer.from('Subject: dots\r\n\r\n.leading dot\r\n.\r\n..two\r\nbare\nlf\rcr\r\n. \r\n'),
      all,
      Buffer.from('\r\nend\r\n'),
    ]);
    // On the wire: every line starting with "." gets one more.
    const stuffed = Buffer.from(
      message.toString('latin1').split('\r\n').map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n'),
      'latin1',
    );
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('RETR 1');
      // Split at awkward places: in the middle of "\r\n." and of the terminator.
      const wire = Buffer.concat([Buffer.from('+OK message follows\r\n'), stuffed, Buffer.from('.\r\n')]);
      for (let i = 0; i < wire.length; i += 7) {
        c.send(wire.subarray(i, i + 7));
        await delay(1);
      }
      await c.expect('RETR 1');
      c.send(Buffer.concat([Buffer.from('+OK\r\n'), stuffed, Buffer.from('.\r\n')]));
    });
    const s = await connectPop3(opts(srv.port));
    assert.ok((await s.retrieve(1)).equals(message));
    assert.ok((await s.retrieve(1)).equals(message));
    assert.ok(!s.transcript.some((l) => l.text.includes('leading dot')), 'message bodies stay out of the transcript');
    s.close();
    await srv.done;
  });

  test('XOAUTH2 in two steps: AUTH XOAUTH2, "+", credentials, +OK', async (t) => {
    const token = 'ya29.valid-access-token-0123456789';
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('AUTH XOAUTH2');
      c.send('+ \r\n');
      await c.expect(xoauth2('alice@example.com', token));
      c.send('+OK Logged in.\r\n');
    });
    const s = await connectPop3(opts(srv.port));
    await s.loginWithXoauth2('alice@example.com', token);
    await srv.done;
    assert.deepEqual(s.transcript.filter((l) => l.direction === 'client').map((l) => l.text), [
      'AUTH XOAUTH2',
      '<XOAUTH2 credentials hidden>',
    ]);
    assertNoSecrets([token, xoauth2('alice@example.com', token)], s.transcript);
    s.close();
  });

  test('XOAUTH2 error challenge: answers with an empty line, reports the -ERR and the decoded JSON', async (t) => {
    const token = 'expired-token-abcdefghijklmnop';
    const challenge = { status: '401', schemes: 'bearer', scope: 'https://outlook.office.com/POP.AccessAsUser.All' };
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('AUTH XOAUTH2');
      c.send('+\r\n');
      await c.expect(xoauth2('bob@example.com', token));
      c.send(`+ ${Buffer.from(JSON.stringify(challenge)).toString('base64')}\r\n`);
      await c.expect('');
      c.send('-ERR [AUTH] Authentication failed.\r\n');
      await c.expect('QUIT');
      c.send('+OK\r\n');
    });
    const s = await connectPop3(opts(srv.port));
    const err = await rejectsWith(s.loginWithXoauth2('bob@example.com', token), 'auth');
    assert.equal(err.response, '-ERR [AUTH] Authentication failed.');
    assert.deepEqual(err.challenge, challenge);
    assertNoSecrets([token, xoauth2('bob@example.com', token)], s.transcript, err);
    await s.quit(); // the session is still usable after a failed login
    await srv.done;
  });

  for (const [line, kind] of [
    ['-ERR [SYS/TEMP] Temporary authentication failure.', 'temporary'],
    ['-ERR [IN-USE] Mailbox locked by another session.', 'temporary'],
    ['-ERR [AUTH] Authentication failed.', 'auth'],
    ['-ERR Authentication failure: unknown user name or bad password.', 'auth'],
  ] as const) {
    test(`XOAUTH2 answered "${line}" → ${kind}`, async (t) => {
      const srv = await scripted(t, async (c) => {
        c.send(GREETING);
        await c.expect('AUTH XOAUTH2');
        c.send('+ \r\n');
        await c.readLine();
        c.send(line + '\r\n');
      });
      const s = await connectPop3(opts(srv.port));
      const err = await rejectsWith(s.loginWithXoauth2('a@example.com', 'tok-1234567890'), kind);
      assert.equal(err.response, line);
      assert.equal(err.challenge, undefined);
      s.close();
    });
  }

  test('AUTH XOAUTH2 refused before credentials → unsupported; credentials never sent', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('AUTH XOAUTH2');
      c.send('-ERR Unsupported authentication mechanism.\r\n');
      assert.equal(await c.readLine(), null);
    });
    const s = await connectPop3(opts(srv.port));
    await rejectsWith(s.loginWithXoauth2('a@example.com', 'tok-1234567890'), 'unsupported');
    s.close();
    await srv.done;
  });

  test('USER/PASS: -ERR [AUTH] → auth, and a password echoed by the server is masked too', async (t) => {
    const password = 'correct horse battery staple';
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('USER carol');
      c.send('+OK\r\n');
      await c.expect(`PASS ${password}`);
      c.send(`-ERR [AUTH] bad password "${password}"\r\n`);
    });
    const s = await connectPop3(opts(srv.port));
    const err = await rejectsWith(s.loginWithPassword('carol', password), 'auth');
    assert.equal(err.response, '-ERR [AUTH] bad password "********"');
    assertNoSecrets([password], s.transcript, err);
    s.close();
  });

  test('CAPA answered -ERR → empty list', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('CAPA');
      c.send('-ERR unknown command\r\n');
    });
    const s = await connectPop3(opts(srv.port));
    assert.deepEqual(await s.capabilities(), []);
    s.close();
  });

  test('concurrent calls are serialized, never interleaved on the wire', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('STAT');
      await delay(20);
      c.send('+OK 1 10\r\n');
      await c.expect('UIDL');
      c.send('+OK\r\n1 x\r\n.\r\n');
    });
    const s = await connectPop3(opts(srv.port));
    const [st, ids] = await Promise.all([s.stat(), s.uidl()]);
    assert.deepEqual(st, { count: 1, size: 10 });
    assert.deepEqual([...ids], [['x', 1]]);
    s.close();
    await srv.done;
  });

  test('silence → timeout (greeting and command), then the session is closed', async (t) => {
    const silent = await scripted(t, async () => {});
    let started = Date.now();
    await rejectsWith(connectPop3(opts(silent.port, 150)), 'timeout');
    const greetingWait = Date.now() - started;
    assert.ok(greetingWait >= 140 && greetingWait < 1000, `waited ${greetingWait} ms`);

    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('STAT'); // and never answer
    });
    const s = await connectPop3(opts(srv.port, 150));
    started = Date.now();
    const err = await rejectsWith(s.stat(), 'timeout');
    assert.match(err.message, /STAT/);
    assert.ok(Date.now() - started < 1000);
    await rejectsWith(s.stat(), 'network'); // the connection was dropped: state is unknown after a timeout
  });

  test('a slow but steady RETR is not a timeout: the timer measures silence', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('RETR 1');
      c.send('+OK\r\n');
      for (let i = 0; i < 6; i++) {
        c.send(`line ${i}\r\n`);
        await delay(60);
      }
      c.send('.\r\n');
    });
    const s = await connectPop3(opts(srv.port, 150));
    assert.equal((await s.retrieve(1)).toString().split('\r\n').length, 7);
    s.close();
  });

  test('dropped connection → network (mid-reply, and refused)', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('UIDL');
      c.send('+OK\r\n1 a\r\n'); // ...and no terminating dot
      c.socket.destroy();
    });
    const s = await connectPop3(opts(srv.port));
    await rejectsWith(s.uidl(), 'network');
    await rejectsWith(s.stat(), 'network');

    const closed = await scripted(t, async () => {});
    const port = closed.port;
    await closed.close();
    await rejectsWith(connectPop3(opts(port)), 'network');
  });

  test('a greeting that is not POP3, and an endless line → protocol', async (t) => {
    const http = await scripted(t, async (c) => c.send('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await rejectsWith(connectPop3(opts(http.port)), 'protocol');
    const flood = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('STAT');
      c.send(Buffer.alloc(1100 * 1024, 0x41));
    });
    const s = await connectPop3(opts(flood.port));
    await rejectsWith(s.stat(), 'protocol');
  });

  test('starttls: STLS not offered → unsupported, nothing else is sent', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('CAPA');
      c.send('+OK\r\nUSER\r\nSASL PLAIN XOAUTH2\r\n.\r\n');
      assert.equal(await c.readLine(), null); // the client hangs up: no USER, no AUTH in clear
    });
    const err = await rejectsWith(connectPop3({ ...opts(srv.port), security: 'starttls' }), 'unsupported');
    assert.match(err.message, /STLS/);
    await srv.done;
  });

  test('starttls: bytes injected after the STLS +OK are refused', async (t) => {
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('CAPA');
      c.send('+OK\r\nSTLS\r\n.\r\n');
      await c.expect('STLS');
      c.send('+OK Begin TLS negotiation now.\r\n+OK injected\r\n');
    });
    await rejectsWith(connectPop3({ ...opts(srv.port), security: 'starttls' }), 'protocol');
  });

  test('starttls and implicit TLS with a self-signed certificate', async (t) => {
    const cert = selfSignedCert();
    if (!cert) return t.skip('openssl is not available to make a throwaway certificate');
    const srv = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('CAPA');
      c.send('+OK\r\nSTLS\r\nUSER\r\n.\r\n');
      await c.expect('STLS');
      c.send('+OK Begin TLS negotiation now.\r\n');
      const s = c.upgrade(cert);
      await s.expect('USER dave');
      s.send('+OK\r\n');
      await s.expect('PASS hunter2-hunter2');
      s.send('+OK\r\n');
      await s.expect('QUIT');
      s.send('+OK\r\n');
    });
    const s = await connectPop3({ ...opts(srv.port), security: 'starttls', tls: { ca: cert.cert } });
    assert.ok(s.transcript.some((l) => l.direction === 'info' && /^TLS established/.test(l.text)));
    await s.loginWithPassword('dave', 'hunter2-hunter2');
    await s.quit();
    await srv.done;

    // An untrusted certificate is a 'tls' failure, on STLS and on implicit TLS.
    const again = await scripted(t, async (c) => {
      c.send(GREETING);
      await c.expect('CAPA');
      c.send('+OK\r\nSTLS\r\n.\r\n');
      await c.expect('STLS');
      c.send('+OK\r\n');
      c.upgrade(cert);
    });
    await rejectsWith(connectPop3({ ...opts(again.port), security: 'starttls' }), 'tls');

    const implicit = tls.createServer({ cert: cert.cert, key: cert.key }, (s) => {
      s.on('error', () => {});
      s.write(GREETING);
    });
    await new Promise<void>((r) => implicit.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => implicit.close(() => r())));
    const port = (implicit.address() as net.AddressInfo).port;
    const ok = await connectPop3({ ...opts(port), security: 'tls', tls: { ca: cert.cert } });
    assert.equal(ok.greeting, GREETING.trim());
    ok.close();
    await rejectsWith(connectPop3({ ...opts(port), security: 'tls' }), 'tls');
    await rejectsWith(connectPop3({ ...opts(port), security: 'tls', tls: { ca: cert.cert, servername: 'mail.example.com' } }), 'tls');
  });

  test('control characters in credentials are refused before anything is sent', async (t) => {
    const srv = await scripted(t, async (c) => c.send(GREETING));
    const s: Pop3Session = await connectPop3(opts(srv.port));
    await assert.rejects(async () => s.loginWithPassword('eve', 'x\r\nDELE 1'), TypeError);
    await assert.rejects(async () => s.loginWithXoauth2('eve@example.com\x01auth=x', 'tok'), TypeError);
    assert.deepEqual(s.transcript.filter((l) => l.direction === 'client'), []);
    s.close();
  });
});
