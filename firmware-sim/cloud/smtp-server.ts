// The simulated cloud's SMTP submission server: a real smtp-server on 127.0.0.1 that accepts
// SASL XOAUTH2 and checks each bearer token by introspection at the lab authorization server,
// the way Exchange Online checks its tokens. PLAIN/LOGIN are offered too when passwords are given.
//
// - The token must be active, carry the required scope (default `mail.smtp`), and its `email` must
//   equal the XOAUTH2 `user=`. Otherwise the XOAUTH2 way: `334 <base64 {status:"401",schemes,scope}>`,
//   the client answers with an empty line, then `535` (nodemailer reports EAUTH / 535).
// - If introspection itself fails (authorization server down), the answer is a temporary
//   `454 4.7.0`, not 535: a client must not take it for a dead token.
// - No TLS for now: STARTTLS is disabled and AUTH is allowed in clear text (allowInsecureAuth),
//   acceptable on loopback only.
// - smtp-server 3.21 always waits 100 ms before its greeting (to catch early talkers); there is no
//   option to turn it off, so measure with pooled connections (see `connections`).
// - Enhanced status codes are not added by smtp-server (hideENHANCEDSTATUSCODES), so a fault reply
//   such as `535 5.7.139 …` goes on the wire exactly as given; the lab's own replies carry theirs.

import { SMTPServer } from 'smtp-server';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession, SMTPServerDataStream } from 'smtp-server';
import type { Socket, AddressInfo } from 'node:net';

export interface ReceivedMail { from: string; to: string[]; raw: Buffer; user: string; sessionId: string }

export interface SmtpLabOptions {
  port?: number;
  authorizationServer?: { introspect(token: string): Promise<{ active: boolean; email?: string; scope?: string }> };
  /** default 'mail.smtp' */
  requiredScope?: string;
  /** user → password, for SMTP AUTH PLAIN/LOGIN */
  passwords?: Record<string, string>;
  /** TLS is not supported yet; the option exists so callers can say so explicitly */
  secure?: false;
  /** maximum message size in bytes, announced with SIZE; default 25 MiB */
  size?: number;
  /** accept mail without AUTH (a device set to authentication None); default false */
  authOptional?: boolean;
}

export type SmtpLabFault =
  | null
  | { reply: string; on?: 'auth' | 'mail' | 'rcpt' | 'data'; count?: number }
  | { kind: 'drop' | 'slow'; ms?: number; count?: number }
  /** Exchange Online's Send As check: a MAIL FROM other than the signed-in mailbox gets SEND_AS_REPLY. */
  | { kind: 'send_as'; count?: undefined };

/** What Exchange Online answers when the signed-in mailbox may not send as the MAIL FROM address. */
export const SEND_AS_REPLY = '550 5.7.60 SMTP; Client does not have permissions to send as this sender';

export interface AuthAttempt {
  method: string;
  user: string;
  ok: boolean;
  /** what the server answered on failure, e.g. '535 5.7.139 …' or the XOAUTH2 JSON challenge */
  reply?: string;
  /** why it failed, in the lab's words (inactive token, wrong user, missing scope…) */
  reason?: string;
}

export interface SmtpLab {
  port: number;
  received: ReceivedMail[];
  authAttempts: AuthAttempt[];
  /** TCP connections opened so far (to prove pooling) */
  connections: number;
  /**
   * `{reply, on, count}`: answer the next `count` (default: every) AUTH / MAIL / RCPT / DATA
   * (default `on: 'auth'`) with this reply, e.g. '535 5.7.139 Authentication unsuccessful, …'.
   * `{kind: 'drop'}`: cut the TCP connection at the next step (new connection, AUTH, MAIL, RCPT
   * or end of DATA). `{kind: 'slow', ms}`: delay each of the next steps by `ms` (default 1000).
   */
  setFault(fault: SmtpLabFault): void;
  /**
   * Cut the open sessions signed in as `user` (every open connection when not given), as a provider
   * revoking a user's sessions would (e.g. after a password reset). Returns how many were cut.
   */
  dropSessions(user?: string): number;
  close(): Promise<void>;
}

type Step = 'connect' | 'auth' | 'mail' | 'rcpt' | 'data';

interface SmtpError extends Error { responseCode?: number }

function smtpError(code: number, message: string): SmtpError {
  const err: SmtpError = new Error(message);
  err.responseCode = code;
  return err;
}

// '535 5.7.139 Authentication unsuccessful…' → code 535, text after it.
function parseReply(reply: string): { code: number; text: string } {
  const m = /^\s*([2-5]\d\d)[ -]?(.*)$/s.exec(reply);
  if (!m) throw new Error(`SMTP fault reply must start with a 3-digit code: ${JSON.stringify(reply)}`);
  return { code: Number(m[1]), text: m[2]!.trim() };
}

export async function startSmtpLab(opts: SmtpLabOptions = {}): Promise<SmtpLab> {
  const requiredScope = opts.requiredScope ?? 'mail.smtp';
  const passwords = opts.passwords ?? {};
  const received: ReceivedMail[] = [];
  const authAttempts: AuthAttempt[] = [];
  const sockets = new Map<number, Socket>(); // by client port: hooks only get the session
  const signedIn = new Map<number, string>(); // client port → the user it signed in as
  let connections = 0;
  let fault: SmtpLabFault = null;

  const authMethods = ['XOAUTH2'];
  if (Object.keys(passwords).length) authMethods.push('PLAIN', 'LOGIN');

  function takeCount(): void {
    if (fault && fault.count !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) fault = null;
    }
  }

  // Applies the current fault to one step. Resolves to an error to answer with, 'dropped' when the
  // connection was cut, or null to go on normally.
  async function applyFault(step: Step, session: SMTPServerSession): Promise<SmtpError | 'dropped' | null> {
    const f = fault;
    if (!f || ('kind' in f && f.kind === 'send_as')) return null;
    if ('reply' in f) {
      if (step !== (f.on ?? 'auth')) return null;
      takeCount();
      const { code, text } = parseReply(f.reply);
      return smtpError(code, text);
    }
    takeCount();
    if (f.kind === 'drop') {
      sockets.get(session.remotePort)?.destroy();
      return 'dropped';
    }
    await new Promise((r) => setTimeout(r, 'ms' in f ? (f.ms ?? 1000) : 1000));
    return null;
  }

  async function checkAuth(auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<SMTPServerAuthenticationResponse | SmtpError> {
    const user = auth.username ?? '';
    const record = (ok: boolean, reply?: string, reason?: string): void => {
      authAttempts.push({ method: auth.method, user, ok, ...(reply !== undefined ? { reply } : {}), ...(reason ? { reason } : {}) });
    };

    const f = await applyFault('auth', session);
    if (f === 'dropped') { record(false, undefined, 'connection dropped (fault)'); return smtpError(421, '4.4.2 Connection dropped'); }
    if (f) { record(false, `${f.responseCode} ${f.message}`, 'fault'); return f; }

    if (auth.method === 'XOAUTH2') {
      const challenge = { status: '401', schemes: 'bearer', scope: requiredScope };
      const reject = (reason: string): SMTPServerAuthenticationResponse => {
        record(false, `334 ${JSON.stringify(challenge)}`, reason);
        return { data: challenge };
      };
      if (!opts.authorizationServer) return reject('no authorization server configured');
      let info: { active: boolean; email?: string; scope?: string };
      try {
        info = await opts.authorizationServer.introspect(auth.accessToken ?? '');
      } catch {
        // The token could not be checked: a temporary failure, like Dovecot's [SYS/TEMP].
        const err = smtpError(454, '4.7.0 Temporary authentication failure');
        record(false, `454 ${err.message}`, 'introspection failed');
        return err;
      }
      if (!info.active) return reject('token inactive');
      if (!info.email || info.email.toLowerCase() !== user.toLowerCase()) return reject('user does not match the token');
      if (!(info.scope ?? '').split(' ').includes(requiredScope)) return reject(`token lacks scope ${requiredScope}`);
      record(true);
      signedIn.set(session.remotePort, user);
      return { user };
    }

    // PLAIN / LOGIN
    const expected = passwords[user];
    if (expected !== undefined && auth.password === expected) {
      record(true);
      return { user };
    }
    const err = smtpError(535, '5.7.8 Authentication credentials invalid');
    record(false, `535 ${err.message}`, 'wrong user or password');
    return err;
  }

  // Runs a step's fault and tells smtp-server; `then` is the step's normal work.
  function step(name: Step, session: SMTPServerSession, cb: (err?: SmtpError | null) => void, then: () => void = () => cb()): void {
    applyFault(name, session).then((f) => {
      if (f === 'dropped') return; // the socket is gone; smtp-server cleans up on close
      if (f) return cb(f);
      then();
    }, (err: unknown) => cb(smtpError(451, `4.3.0 Lab error: ${err instanceof Error ? err.message : String(err)}`)));
  }

  const server = new SMTPServer({
    name: 'smtp.lab.example',
    banner: 'MFP lab SMTP (simulated)',
    authMethods,
    authOptional: opts.authOptional ?? false,
    allowInsecureAuth: true, // loopback only, no TLS yet
    disabledCommands: ['STARTTLS'],
    hideENHANCEDSTATUSCODES: true,
    disableReverseLookup: true,
    size: opts.size ?? 25 * 1024 * 1024,
    logger: false,
    closeTimeout: 100,
    onConnect(session, cb) {
      step('connect', session, cb);
    },
    onAuth(auth, session, cb) {
      checkAuth(auth, session).then((r) => {
        if (r instanceof Error) cb(r);
        else cb(null, r);
      }, (err: unknown) => cb(smtpError(454, `4.7.0 Lab error: ${err instanceof Error ? err.message : String(err)}`)));
    },
    onMailFrom(address, session, cb) {
      const user = String(session.user ?? '');
      if (fault && 'kind' in fault && fault.kind === 'send_as' && user && address.address.toLowerCase() !== user.toLowerCase()) {
        const { code, text } = parseReply(SEND_AS_REPLY);
        return cb(smtpError(code, text));
      }
      step('mail', session, cb);
    },
    onRcptTo(_address, session, cb) {
      step('rcpt', session, cb);
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err) => cb(err));
      stream.on('end', () => {
        if (stream.sizeExceeded) return cb(smtpError(552, '5.3.4 Message exceeds fixed maximum message size'));
        step('data', session, cb, () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks),
            user: String(session.user ?? ''),
            sessionId: session.id,
          });
          cb();
        });
      });
    },
  });

  server.server.on('connection', (socket: Socket) => {
    connections++;
    const port = socket.remotePort;
    if (port !== undefined) {
      sockets.set(port, socket);
      socket.once('close', () => { sockets.delete(port); signedIn.delete(port); });
    }
  });
  // A client vanishing mid-session (or a 'drop' fault) must not crash the lab.
  server.on('error', () => {});

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => { server.server.off('error', reject); resolve(); });
  });
  const port = (server.server.address() as AddressInfo).port;

  let closed = false;
  return {
    port,
    received,
    authAttempts,
    get connections() { return connections; },
    setFault(next) {
      if (next && 'reply' in next) parseReply(next.reply); // fail early on a malformed reply
      fault = next ? { ...next } : null;
    },
    dropSessions(user) {
      let cut = 0;
      for (const [port, socket] of sockets) {
        if (user !== undefined && signedIn.get(port)?.toLowerCase() !== user.toLowerCase()) continue;
        socket.destroy();
        cut++;
      }
      return cut;
    },
    async close() {
      if (closed) return;
      closed = true;
      fault = null;
      // smtp-server says 421 to open sessions after closeTimeout and closes them
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets.values()) s.destroy();
    },
  };
}
