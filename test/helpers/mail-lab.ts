/**
 * The whole mail lab one provider type needs, on loopback: the authorization server in that
 * provider's shape, the SMTP server and (when installed) Dovecot, both checking the device's tokens
 * by introspection with the scope that provider type's tokens carry.
 */
import { startAuthorizationServer, type AuthorizationServer, type AuthorizationServerShape } from '../../firmware-sim/cloud/authorization-server.js';
import { MICROSOFT } from '../../firmware-sim/cloud/authorization-shapes.js';
import { dovecotAvailable, startDovecotLab, type DovecotLab } from '../../firmware-sim/cloud/pop3-server.js';
import { startSmtpLab, type SmtpLab } from '../../firmware-sim/cloud/smtp-server.js';

export interface MailLab {
  auth: AuthorizationServer;
  smtp: SmtpLab;
  /** absent when Dovecot is not installed */
  pop?: DovecotLab;
  /** the mailbox the walk signs in as, sends from and checks */
  account: { login: string; password: string; email: string };
  close(): Promise<void>;
}

export interface MailLabOptions {
  shape: AuthorizationServerShape;
  /** Microsoft app-only: tokens carry `.default` (the application permissions), not the delegated scopes */
  appOnly?: boolean;
}

export async function startMailLab({ shape, appOnly = false }: MailLabOptions): Promise<MailLab> {
  const started: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const s of started.reverse()) await s.close().catch(() => {});
  };
  try {
    const auth = await startAuthorizationServer({ shape, deviceInterval: 1 });
    started.push(auth);
    const scopes = appOnly ? { smtp: MICROSOFT.appScope, pop: MICROSOFT.appScope } : auth.scopes;
    const smtp = await startSmtpLab({ authorizationServer: auth, requiredScope: scopes.smtp });
    started.push(smtp);
    let pop: DovecotLab | undefined;
    if (dovecotAvailable()) {
      const introspection = new URL(auth.endpoints.introspection);
      introspection.username = encodeURIComponent(auth.introspector.clientId);
      introspection.password = encodeURIComponent(auth.introspector.clientSecret);
      pop = await startDovecotLab({ introspection: { url: introspection.href }, requiredScope: scopes.pop });
      started.push(pop);
    }
    return { auth, smtp, ...(pop ? { pop } : {}), account: auth.accounts[0]!, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * A received message's Subject as a mail program shows it: unfolded, RFC 2047 encoded words decoded
 * (a Japanese or Swedish subject travels as =?UTF-8?B?…?=). Written apart from the device's own parser.
 */
export function subjectOf(raw: Buffer): string | undefined {
  const header = raw.toString('utf8').split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]/g, ' ');
  const value = /^Subject: (.*)$/im.exec(header)?.[1];
  if (value === undefined) return undefined;
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, encoding: string, text: string) =>
      encoding.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8'));
}
