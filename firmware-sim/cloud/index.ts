// The simulated cloud as one object: the authorization server (oidc-provider), the SMTP lab and,
// when Dovecot is installed, the POP3 lab behind a TCP fault proxy — with fault injection at run
// time through one API (setFault / clearFaults) and, optionally, a small control endpoint on
// loopback so a running `npm run sim -- start` can be faulted from another shell:
//   POST   /faults   {target:'provider'|'smtp'|'pop', fault}   → 200 {ok, state}
//   DELETE /faults                                           → 200 {ok, state}
//   GET    /state                                            → 200 state
//   POST   /mailbox  {to?, subject?, from?, body?}            → 201 {uidl}  (an e-mail-print job arrives)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { startAuthorizationServer, type AuthorizationServer, type AuthorizationServerShape } from './authorization-server.js';
import { dovecotAvailable, startDovecotLab, type DovecotLab } from './pop3-server.js';
import { startPopFaultProxy, type PopFaultProxy } from './pop-fault-proxy.js';
import { startSmtpLab, type SmtpLab } from './smtp-server.js';
import { describeFault, FAULT_TARGETS, type CloudFault, type FaultTarget } from './faults.js';

export * from './faults.js';

export interface CloudOptions {
  shape?: AuthorizationServerShape;
  /** seconds */
  accessTokenTtl?: number;
  deviceCodeTtl?: number;
  deviceInterval?: number;
  ports?: { auth?: number; smtp?: number; pop?: number; imap?: number; control?: number };
  /** fixed secrets so a device set up on an earlier run keeps matching */
  secrets?: { deviceClientSecret?: string; introspectorSecret?: string; appOnlyClientSecret?: string };
  /** the authorization server's grants and tokens survive a restart in this JSON file (default: memory only) */
  authStateFile?: string;
  /** start Dovecot (default: when installed) */
  pop?: boolean;
  /** serve the control endpoint (default false) */
  control?: boolean;
  /** the person at the provider approves every device code by itself (default false) */
  autoApprove?: boolean;
  /** mail the SMTP lab accepts for a lab account lands in its POP mailbox (default true) */
  loopMail?: boolean;
  /** google: the app is in "Testing" (refresh tokens end 7 days after the sign-in) */
  googleTesting?: boolean;
}

export interface CloudState {
  shape: AuthorizationServerShape;
  issuer: string;
  controlUrl: string | null;
  faults: Record<FaultTarget, string | null>;
  smtp: { port: number; received: number; authAttempts: number; failedAuth: number; connections: number };
  pop: { port: number; dovecotPort: number; connections: number; injected: number } | null;
  deviceCodes: number;
}

export interface Cloud {
  auth: AuthorizationServer;
  smtp: SmtpLab;
  /** absent when Dovecot is not installed */
  dovecot?: DovecotLab;
  /** the port the device is configured to (the fault proxy in front of Dovecot) */
  popPort?: number;
  popProxy?: PopFaultProxy;
  /** Dovecot's IMAP port (the same mailbox as POP; no fault proxy in front) */
  imapPort?: number;
  /** the lab's mailbox account */
  account: { login: string; password: string; email: string };
  controlUrl: string | null;
  setFault(fault: CloudFault): Promise<string>;
  clearFaults(target?: FaultTarget): void;
  /** Puts a message in the account's POP mailbox; returns its UIDL. */
  deliver(message?: { to?: string; subject?: string; from?: string; body?: string }): Promise<string>;
  /** What the cloud did since the last call (device codes, sign-ins, mail, injected faults), for transcripts. */
  journal(): string[];
  state(): CloudState;
  close(): Promise<void>;
}

export async function startCloud(options: CloudOptions = {}): Promise<Cloud> {
  const started: { close(): Promise<void> }[] = [];
  try {
    const auth = await startAuthorizationServer({
      ...(options.ports?.auth !== undefined ? { port: options.ports.auth } : {}),
      shape: options.shape ?? 'generic',
      deviceInterval: options.deviceInterval ?? 1,
      ...(options.deviceCodeTtl !== undefined ? { deviceCodeTtl: options.deviceCodeTtl } : {}),
      ...(options.accessTokenTtl !== undefined ? { accessTokenTtl: options.accessTokenTtl } : {}),
      ...(options.secrets?.deviceClientSecret ? { deviceClientSecret: options.secrets.deviceClientSecret } : {}),
      ...(options.secrets?.introspectorSecret ? { introspectorSecret: options.secrets.introspectorSecret } : {}),
      ...(options.secrets?.appOnlyClientSecret ? { appOnlyClientSecret: options.secrets.appOnlyClientSecret } : {}),
      ...(options.authStateFile !== undefined ? { stateFile: options.authStateFile } : {}),
      ...(options.googleTesting ? { googleTesting: true } : {}),
    });
    started.push(auth);
    const account = auth.accounts[0]!;
    const smtp = await startSmtpLab({ ...(options.ports?.smtp !== undefined ? { port: options.ports.smtp } : {}), authorizationServer: auth, requiredScope: auth.scopes.smtp });
    started.push(smtp);
    let dovecot: DovecotLab | undefined;
    let popProxy: PopFaultProxy | undefined;
    if ((options.pop ?? true) && dovecotAvailable()) {
      const introspection = new URL(auth.endpoints.introspection);
      introspection.username = encodeURIComponent(auth.introspector.clientId);
      introspection.password = encodeURIComponent(auth.introspector.clientSecret);
      // Dovecot on a port of its own; the device talks to the proxy (the port it is told about).
      // The same mailbox over IMAP; Dovecot checks one scope for both (the custom provider's receive scope).
      dovecot = await startDovecotLab({ introspection: { url: introspection.href }, requiredScope: auth.scopes.pop, imap: options.ports?.imap !== undefined ? { port: options.ports.imap } : {} });
      started.push(dovecot);
      popProxy = await startPopFaultProxy({ target: dovecot.port, ...(options.ports?.pop !== undefined ? { port: options.ports.pop } : {}) });
      started.push(popProxy);
    }
    return await assemble(options, auth, smtp, account, dovecot, popProxy, started);
  } catch (err) {
    for (const s of started.reverse()) await s.close().catch(() => {});
    throw err;
  }
}

async function assemble(
  options: CloudOptions,
  auth: AuthorizationServer,
  smtp: SmtpLab,
  account: Cloud['account'],
  dovecot: DovecotLab | undefined,
  popProxy: PopFaultProxy | undefined,
  started: { close(): Promise<void> }[],
): Promise<Cloud> {
  const entries: string[] = [];
  const note = (line: string): void => void entries.push(line);
  const faults: Record<FaultTarget, string | null> = { provider: null, smtp: null, pop: null };
  let denials = 0;
  let deviceCodes = 0;
  const background = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => {
    background.add(p);
    void p.finally(() => background.delete(p));
  };

  // The person at the provider: declines while an access_denied fault is armed, approves if told to.
  const unsubscribe = auth.onDeviceCode(({ userCode }) => {
    deviceCodes++;
    note(`provider: device code ${userCode} issued`);
    if (denials > 0) {
      denials--;
      if (denials === 0) faults.provider = null;
      track(new Promise((r) => setTimeout(r, 50)).then(() => auth.denyDeviceCode(userCode)).then(
        () => note(`provider: ${account.login} declined the request for code ${userCode} (access_denied)`),
        (err: unknown) => note(`provider: declining ${userCode} failed: ${err instanceof Error ? err.message : String(err)}`),
      ));
    } else if (options.autoApprove) {
      track(new Promise((r) => setTimeout(r, 50)).then(() => auth.approveDeviceCode(userCode)).then(
        () => note(`provider: ${account.login} approved code ${userCode}`),
        (err: unknown) => note(`provider: approving ${userCode} failed: ${err instanceof Error ? err.message : String(err)}`),
      ));
    }
  });

  // Cursors into the labs' own records, for journal().
  let authSeen = smtp.authAttempts.length;
  let receivedSeen = smtp.received.length;
  let injectedSeen = popProxy?.injected.length ?? 0;
  let looped = smtp.received.length;

  // Mail to the lab account lands in its POP mailbox (so a scan to oneself becomes an e-mail-print job).
  const loop = dovecot && options.loopMail !== false
    ? setInterval(() => {
      while (looped < smtp.received.length) {
        const mail = smtp.received[looped++]!;
        if (mail.to.some((to) => to.toLowerCase() === account.email.toLowerCase())) {
          track(dovecot.deliver(account.email, mail.raw).catch(() => {}));
        }
      }
    }, 100)
    : undefined;
  loop?.unref();

  function journal(): string[] {
    for (; authSeen < smtp.authAttempts.length; authSeen++) {
      const a = smtp.authAttempts[authSeen]!;
      note(`smtp: AUTH ${a.method} as ${a.user || '(none)'} → ${a.ok ? '235 accepted' : `${a.reply ?? 'refused'}${a.reason ? ` [${a.reason}]` : ''}`}`);
    }
    // Batches of one message are grouped: "4 messages (50+50+50+50 recipients) on session X".
    const fresh = smtp.received.slice(receivedSeen);
    receivedSeen = smtp.received.length;
    for (const mail of fresh) {
      const subject = /^Subject: (.*)$/im.exec(mail.raw.toString('utf8'))?.[1]?.trim() ?? '';
      const pdf = /filename="?([^";\r\n]+\.pdf)/i.exec(mail.raw.toString('utf8'))?.[1];
      note(`smtp: accepted "${subject}" from ${mail.from} for ${mail.to.length} recipient(s)${pdf ? ` with ${pdf}` : ''} (session ${mail.sessionId})`);
    }
    if (popProxy) {
      for (; injectedSeen < popProxy.injected.length; injectedSeen++) note(`pop: ${popProxy.injected[injectedSeen]}`);
    }
    return entries.splice(0);
  }

  async function setFault(f: CloudFault): Promise<string> {
    const line = describeFault(f);
    switch (f.target) {
      case 'provider': {
        const p = f.fault;
        if (p.kind === 'password_reset' || p.kind === 'invalid_grant') {
          const who = p.account ?? account.email;
          const destroyed = await auth.resetPassword(who);
          // As Exchange Online revokes a user's sessions on a password reset (continuous access
          // evaluation): SMTP sessions signed in as the account are cut; the next mail signs in again.
          const cut = smtp.dropSessions(who);
          note(`provider: password of ${who} reset: ${destroyed} grant(s) destroyed; ${cut} open SMTP session(s) of the account ended`);
          return `${line}: ${destroyed} grant(s) destroyed, ${cut} SMTP session(s) ended`;
        }
        if (p.kind === 'sign_in_frequency' || p.kind === 'insufficient_claims' || p.kind === 'clock_skew') {
          auth.setGrantPolicy(p);
        } else if (p.kind === 'access_denied') {
          denials = p.count ?? 1;
          auth.setFault(null);
        } else {
          denials = 0;
          auth.setFault({ kind: p.kind, endpoint: p.endpoint ?? 'token', ...(p.count !== undefined ? { count: p.count } : {}) });
        }
        break;
      }
      case 'smtp':
        smtp.setFault(f.fault);
        break;
      case 'pop':
        if (!popProxy) throw new Error('no POP server: Dovecot is not installed');
        popProxy.setFault(f.fault);
        break;
    }
    faults[f.target] = line;
    note(`fault set: ${line}`);
    return line;
  }

  function clearFaults(target?: FaultTarget): void {
    for (const t of target ? [target] : FAULT_TARGETS) {
      if (t === 'provider') { auth.setFault(null); denials = 0; }
      if (t === 'smtp') smtp.setFault(null);
      if (t === 'pop') popProxy?.setFault(null);
      if (faults[t]) note(`fault cleared: ${t}`);
      faults[t] = null;
    }
  }

  async function deliver(message: { to?: string; subject?: string; from?: string; body?: string } = {}): Promise<string> {
    if (!dovecot) throw new Error('no POP server: Dovecot is not installed');
    const to = message.to ?? account.email;
    const subject = message.subject ?? 'Please print';
    const raw = `From: ${message.from ?? 'Alice Example <alice@lab.example>'}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <${randomUUID()}@lab.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${message.body ?? 'Please print this.'}\r\n`;
    const uidl = await dovecot.deliver(to, raw);
    note(`pop: "${subject}" delivered to the mailbox of ${to}`);
    return uidl;
  }

  const cloud: Cloud = {
    auth,
    smtp,
    ...(dovecot ? { dovecot } : {}),
    ...(popProxy ? { popProxy, popPort: popProxy.port } : {}),
    ...(dovecot?.imapPort !== undefined ? { imapPort: dovecot.imapPort } : {}),
    account,
    controlUrl: null,
    setFault,
    clearFaults,
    deliver,
    journal,
    state() {
      return {
        shape: auth.shape,
        issuer: auth.issuer,
        controlUrl: cloud.controlUrl,
        faults: { ...faults },
        smtp: { port: smtp.port, received: smtp.received.length, authAttempts: smtp.authAttempts.length, failedAuth: smtp.authAttempts.filter((a) => !a.ok).length, connections: smtp.connections },
        pop: popProxy && dovecot ? { port: popProxy.port, dovecotPort: dovecot.port, connections: popProxy.connections, injected: popProxy.injected.length } : null,
        deviceCodes,
      };
    },
    async close() {
      unsubscribe();
      if (loop) clearInterval(loop);
      await Promise.allSettled([...background]);
      for (const s of started.reverse()) await s.close().catch(() => {});
    },
  };

  if (options.control) {
    const control = await startControl(cloud, options.ports?.control ?? 0);
    started.push(control); // closed first (reverse order): stop taking faults before the labs go
    cloud.controlUrl = control.url;
  }
  return cloud;
}

// --- the control endpoint -----------------------------------------------------------------------

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

async function startControl(cloud: Cloud, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      try {
        if (req.method === 'GET' && path === '/state') return send(res, 200, cloud.state());
        if (req.method === 'POST' && path === '/faults') {
          const body = (await readJson(req)) as { target?: string; fault?: unknown };
          if (!body || typeof body.fault !== 'object' || body.fault === null || !FAULT_TARGETS.includes(body.target as FaultTarget)) {
            return send(res, 400, { ok: false, error: 'expected {target: provider|smtp|pop, fault: {...}}' });
          }
          const applied = await cloud.setFault({ target: body.target, fault: body.fault } as CloudFault);
          return send(res, 200, { ok: true, applied, state: cloud.state() });
        }
        if (req.method === 'DELETE' && path === '/faults') {
          cloud.clearFaults();
          return send(res, 200, { ok: true, state: cloud.state() });
        }
        if (req.method === 'POST' && path === '/mailbox') {
          const body = (await readJson(req)) as { to?: string; subject?: string; from?: string; body?: string };
          return send(res, 201, { ok: true, uidl: await cloud.deliver(body) });
        }
        return send(res, 404, { ok: false, error: 'GET /state, POST /faults, DELETE /faults, POST /mailbox' });
      } catch (err) {
        return send(res, 400, { ok: false, error: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
