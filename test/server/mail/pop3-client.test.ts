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
import { startDovecotLab, dovecotAvailable, DOVECOT_BIN } from '../../../firmware-sim/cloud/pop3-server.js';
import type { DovecotLab } from '../../../firmware-sim/cloud/pop3-server.js';
import { startAuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import type { AuthorizationServer, LabAccount } from '../../../firmware-sim/cloud/authorization-server.js';
import {
  discovery, ClientSecretPost, allowInsecureRequests, initiateDeviceAuthorization, pollDeviceAuthorizationGrant, clientCredentialsGrant,
} from 'openid-client';
import type { Configuration } from 'openid-client';

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

// ---------------------------------------------------------------------------------------------
// Real Dovecot, checking real tokens from the lab authorization server by introspection.

describe('POP3 client against Dovecot with tokens from the lab authorization server', {
  skip: dovecotAvailable() ? false : `${DOVECOT_BIN} is not installed (apt-get install dovecot-core dovecot-pop3d): Dovecot tests skipped`,
}, () => {
  const scanner: LabAccount = { login: 'scanner', password: 'scanner-password-42', email: 'scanner@lab.example' };
  const plainUser = { user: 'legacy@lab.example', password: 'legacy:pass word 0042' };
  let as: AuthorizationServer;
  let config: Configuration;
  let lab: DovecotLab;
  let introspectionUrl: string;
  let token: string; // delegated (device flow) token for the first account, scope mail.pop
  let mailbox: string;
  const seen: unknown[] = []; // every transcript and error, checked for secrets at the end
  const secrets = (): string[] => [token, as.introspector.clientSecret, as.device.clientSecret, plainUser.password, scanner.password].filter(Boolean);

  const connect = async (security: 'none' | 'starttls' = 'none'): Promise<Pop3Session> => {
    const cert = selfSignedCert();
    const s = await connectPop3({ host: '127.0.0.1', port: lab.port, security, timeoutMs: 5000, ...(cert ? { tls: { ca: cert.cert } } : {}) });
    seen.push(s.transcript);
    return s;
  };
  const failing = async (p: Promise<unknown>, kind: Pop3ErrorKind): Promise<Pop3Error> => {
    const err = await rejectsWith(p, kind);
    seen.push(err);
    return err;
  };
  /** Dovecot's log goes into the failure message: it is what explains a refused login. */
  const withLog = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      if (e instanceof Error) e.message += `\n--- dovecot log ---\n${await lab.log()}`;
      throw e;
    }
  };
  async function deviceToken(scope: string, account?: LabAccount): Promise<string> {
    const da = await initiateDeviceAuthorization(config, { scope });
    const poll = pollDeviceAuthorizationGrant(config, da, undefined, { signal: AbortSignal.timeout(15_000) });
    await as.approveDeviceCode(da.user_code, account);
    return (await poll).access_token;
  }

  before(async () => {
    as = await startAuthorizationServer({ deviceInterval: 1, accounts: [
      { login: 'printer@lab.example', password: 'lab-password-printer', email: 'printer@lab.example' },
      scanner,
    ] });
    mailbox = as.accounts[0]!.email;
    config = await discovery(new URL(as.issuer), as.device.clientId, undefined, ClientSecretPost(as.device.clientSecret), {
      execute: [allowInsecureRequests],
    });
    // The introspection endpoint as the discovery document names it, with the mail servers' client.
    const endpoint = new URL(config.serverMetadata().introspection_endpoint ?? `${as.issuer}/token/introspection`);
    endpoint.username = encodeURIComponent(as.introspector.clientId);
    endpoint.password = encodeURIComponent(as.introspector.clientSecret);
    introspectionUrl = endpoint.href;
    const cert = selfSignedCert();
    const started = performance.now();
    lab = await startDovecotLab({
      introspection: { url: introspectionUrl },
      passwords: { [plainUser.user]: plainUser.password },
      ...(cert ? { tls: { certFile: cert.certFile, keyFile: cert.keyFile } } : {}),
    });
    console.log(`Dovecot lab ready on port ${lab.port} in ${(performance.now() - started).toFixed(0)} ms`);
    token = await deviceToken(`${as.scopes.pop} ${as.scopes.smtp} offline_access`);
  });

  after(async () => {
    await lab?.close();
    await as?.close();
  });

  test('XOAUTH2 two-step login with a valid token; UIDL, RETR, DELE of delivered mail', () => withLog(async () => {
    const first = Buffer.from('From: a@lab.example\r\nSubject: status\r\n\r\nToner low.\r\n.\r\n..two dots\r\n');
    // 8-bit bytes come back untouched (Dovecot would turn a bare LF into CRLF, so there is none here).
    const high = Buffer.alloc(128);
    for (let i = 0; i < 128; i++) high[i] = 0x80 + i;
    const second = Buffer.concat([Buffer.from('Subject: bytes\r\n\r\n'), high, Buffer.from('\x01\x7f\r\n.\r\n')]);
    const uid1 = await lab.deliver(mailbox, first);
    const uid2 = await lab.deliver(mailbox, second);

    const s = await connect();
    assert.match(s.greeting, /^\+OK Dovecot/);
    assert.ok((await s.capabilities()).some((c) => /^SASL .*XOAUTH2/.test(c)));
    await s.loginWithXoauth2(mailbox, token);
    assert.deepEqual(await s.stat(), { count: 2, size: first.length + second.length });
    const ids = await s.uidl();
    assert.deepEqual([...ids], [[uid1, 1], [uid2, 2]]);
    assert.ok((await s.retrieve(ids.get(uid1)!)).equals(first));
    assert.ok((await s.retrieve(ids.get(uid2)!)).equals(second));
    await s.delete(ids.get(uid1)!);
    await s.quit();

    const again = await connect();
    await again.loginWithXoauth2(mailbox, token);
    assert.deepEqual([...(await again.uidl())], [[uid2, 1]]);
    await again.delete(1);
    await again.quit();
  }));

  test('an invalid token: the XOAUTH2 error challenge, then -ERR [AUTH]', () => withLog(async () => {
    const s = await connect();
    const err = await failing(s.loginWithXoauth2(mailbox, 'not-a-real-token-0123456789abcdef'), 'auth');
    assert.equal(err.response, '-ERR [AUTH] Authentication failed.');
    // Dovecot 2.3 always names the scope "mail" here, whatever the passdb requires.
    assert.deepEqual(err.challenge, { status: '401', schemes: 'bearer', scope: 'mail' });
    assert.ok(s.transcript.some((l) => l.direction === 'client' && l.text === ''), 'the challenge was answered with an empty line');
    await s.quit();
  }));

  test('an app-only (client credentials) token logs in to its mailbox', () => withLog(async () => {
    const { access_token: appToken } = await clientCredentialsGrant(config, { scope: as.scopes.pop });
    const s = await connect();
    await s.loginWithXoauth2(mailbox, appToken);
    await s.quit();
    assertNoSecrets([appToken], s.transcript);
  }));

  test('a valid token used for another mailbox, and a token without mail.pop, are refused', () => withLog(async () => {
    const s = await connect();
    await failing(s.loginWithXoauth2(scanner.email, token), 'auth');
    const { access_token: smtpOnly } = await clientCredentialsGrant(config, { scope: as.scopes.smtp });
    const err = await failing(s.loginWithXoauth2(mailbox, smtpOnly), 'auth');
    assertNoSecrets([smtpOnly], err, s.transcript);
    await s.quit();
  }));

  test('a password reset revokes the token: the next login fails', () => withLog(async () => {
    const scannerToken = await deviceToken(as.scopes.pop, scanner);
    const s = await connect();
    await s.loginWithXoauth2(scanner.email, scannerToken);
    await s.quit();
    assert.ok((await as.resetPassword(scanner.email)) > 0);
    const t2 = await connect();
    const err = await failing(t2.loginWithXoauth2(scanner.email, scannerToken), 'auth');
    assertNoSecrets([scannerToken], err, t2.transcript);
    t2.close();
  }));

  test('STLS with a throwaway certificate, then XOAUTH2 inside TLS', async (t) => {
    if (!selfSignedCert()) return t.skip('openssl is not available to make a throwaway certificate');
    await withLog(async () => {
      const s = await connect('starttls');
      assert.ok(s.transcript.some((l) => /^TLS established \(TLSv1\.[23]/.test(l.text)));
      await s.loginWithXoauth2(mailbox, token);
      assert.equal((await s.stat()).count, 0);
      await s.quit();
    });
  });

  test('USER/PASS against the passwd-file passdb; a password is no bearer token and vice versa', () => withLog(async () => {
    const s = await connect();
    await s.loginWithPassword(plainUser.user, plainUser.password);
    assert.deepEqual(await s.stat(), { count: 0, size: 0 });
    await s.quit();
    const bad = await connect();
    await failing(bad.loginWithPassword(plainUser.user, 'wrong-password-0000'), 'auth');
    await failing(bad.loginWithXoauth2(plainUser.user, plainUser.password), 'auth');
    await failing(bad.loginWithPassword(mailbox, token), 'auth');
    bad.close();
  }));

  test('introspection unreachable → -ERR [SYS/TEMP] → temporary, not a bad token', async (t) => {
    const broken = await startDovecotLab({ introspection: { url: 'http://nobody:nothing-secret@127.0.0.1:9/token/introspection' } });
    t.after(() => broken.close());
    const s = await connectPop3({ host: '127.0.0.1', port: broken.port, security: 'none', timeoutMs: 5000 });
    seen.push(s.transcript);
    const err = await failing(s.loginWithXoauth2(mailbox, token), 'temporary');
    assert.match(err.response ?? '', /^-ERR \[SYS\/TEMP\]/);
    s.close();
    assert.ok(!(await broken.log()).includes('nothing-secret'), 'the lab masks the introspection secret in its log');
  });

  test('the lab configuration points at nothing outside its temp dir (no /etc/dovecot, no system service paths)', () => {
    const effective = execFileSync('doveconf', ['-a', '-c', path.join(lab.dir, 'dovecot.conf')], { encoding: 'utf8', timeout: 10_000 });
    assert.doesNotMatch(effective, /\/etc\/dovecot|\/run\/dovecot|\/var\/lib\/dovecot|\/var\/run\/dovecot/);
    assert.match(effective, new RegExp(`^base_dir = ${lab.dir}/run$`, 'm'));
  });

  test('close() stops Dovecot and removes its directory', async () => {
    const extra = await startDovecotLab({ introspection: { url: introspectionUrl } });
    const started = performance.now();
    await extra.close();
    console.log(`Dovecot lab closed in ${(performance.now() - started).toFixed(0)} ms`);
    assert.throws(() => readFileSync(path.join(extra.dir, 'dovecot.conf')), /ENOENT/);
    await rejectsWith(connectPop3({ host: '127.0.0.1', port: extra.port, security: 'none', timeoutMs: 2000 }), 'network');
  });

  test('no token, password or client secret appears in any transcript, error or Dovecot log', async () => {
    seen.push(await lab.log());
    assertNoSecrets(secrets(), ...seen);
    const xo = xoauth2(mailbox, token);
    assertNoSecrets([xo], ...seen);
    assert.ok(seen.length > 10);
  });
});
