/** Shared set-up of the sender tests: the lab authorization server, the lab SMTP server, a device. */
import { startSmtpLab, type SmtpLab } from '../../../firmware-sim/cloud/smtp-server.js';
import type { PanelClient } from '../../../firmware-sim/panel-client.js';
import type { AuthorizationServerOptions } from '../../../firmware-sim/cloud/authorization-server.js';
import { bootDevice, configureOAuth, obtainToken as obtainLabToken, startLab, type Lab, type TestDevice } from '../../helpers/device.js';

export const SMTP_PASSWORD = 'lab-smtp-password-123';

export interface MailLab {
  lab: Lab;
  smtp: SmtpLab;
  account: string;
  close(): Promise<void>;
}

export async function startMailLab(options: AuthorizationServerOptions = {}): Promise<MailLab> {
  const lab = await startLab({ deviceCodeTtl: 600, ...options });
  const account = lab.auth.accounts[0]!.email;
  const smtp = await startSmtpLab({ authorizationServer: lab.auth, passwords: { [account]: SMTP_PASSWORD } });
  return {
    lab,
    smtp,
    account,
    async close() {
      await smtp.close();
      await lab.close();
    },
  };
}

export interface MailDevice {
  device: TestDevice;
  panel: PanelClient;
  providerId: string;
}

/** A device whose SMTP (and POP) pages use the lab with OAuth 2.0; the token is not obtained yet. */
export async function bootMailDevice(mail: MailLab, options: { pop?: boolean; dataDir?: string } = {}): Promise<MailDevice> {
  const device = await bootDevice(options.dataDir);
  device.device.services.sender.setRetryPolicy({ retryBaseMs: 100, retryMaxMs: 500, holdPollMs: 100 });
  const panel = await device.panel();
  const providerId = await configureOAuth(panel, mail.lab, { pop: options.pop ?? true });
  await saveSmtp(panel, mail, { authMethod: 'oauth2', providerId, account: mail.account });
  return { device, panel, providerId };
}

export async function saveSmtp(panel: PanelClient, mail: MailLab, fields: Record<string, string>): Promise<void> {
  const response = await panel.saveSettings('smtp', {
    primaryServer: '127.0.0.1',
    port: String(mail.smtp.port),
    timeout: '5',
    senderName: 'Scanner',
    senderAddress: mail.account,
    ssl: 'none',
    ...fields,
  });
  if (response.status !== 200) throw new Error(`saving SMTP failed: HTTP ${response.status}`);
}

/** Get Token on the SMTP page and approval at the lab, as a person would do it. */
export async function obtainToken(panel: PanelClient, mail: MailLab): Promise<void> {
  await obtainLabToken(panel, mail.lab.auth);
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The stored token values (to prove they never leak). */
export function storedSecrets(device: TestDevice, providerId: string, account: string): string[] {
  const { db, box } = device.device.services;
  const row = db.prepare('SELECT access_token_enc, refresh_token_enc FROM credentials WHERE provider_id = ? AND account = ?').get(Number(providerId), account) as
    | { access_token_enc: string | null; refresh_token_enc: string | null }
    | undefined;
  return [box.openOptional(row?.access_token_enc), box.openOptional(row?.refresh_token_enc)].filter((value): value is string => Boolean(value));
}

/** The XOAUTH2 initial response a token makes, as it would go on the wire. */
export function xoauth2String(account: string, token: string): string {
  return Buffer.from(`user=${account}\x01auth=Bearer ${token}\x01\x01`).toString('base64');
}

export function messageIdOf(raw: Buffer): string | undefined {
  return /^Message-ID:\s*(<[^>]+>)/im.exec(raw.toString('utf8'))?.[1];
}
