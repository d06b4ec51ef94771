/** Starts real peers for tests: the lab's authorization server and a device on a fresh data directory. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAuthorizationServer, type AuthorizationServer, type AuthorizationServerOptions } from '../../firmware-sim/cloud/authorization-server.js';
import { PanelClient, type PanelPurpose } from '../../firmware-sim/panel-client.js';
import { readConfig } from '../../server/config.js';
import { startDevice, type RunningDevice } from '../../server/device.js';

export const ADMIN_PASSWORD = 'test-admin-password';

export function tempDir(prefix = 'mfp-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestDevice {
  device: RunningDevice;
  dataDir: string;
  /** Everything the device logged, one JSON line each. */
  logs: string[];
  panel(): Promise<PanelClient>;
  restart(): Promise<TestDevice>;
  close(): Promise<void>;
}

export async function bootDevice(dataDir = tempDir(), env: Record<string, string> = {}): Promise<TestDevice> {
  const logs: string[] = [];
  // Tests drive the panel over plain HTTP on loopback; the HTTPS tests turn this off.
  const config = readConfig({ PORT: '0', HTTPS_PORT: '0', HOST: '127.0.0.1', MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: ADMIN_PASSWORD, MFP_ALLOW_HTTP: '1', LOG_LEVEL: 'debug', ...env });
  const device = await startDevice(config, { logStream: { write: (line) => void logs.push(line) } });
  const handle: TestDevice = {
    device,
    dataDir,
    logs,
    async panel() {
      const panel = new PanelClient(device.url);
      await panel.login(ADMIN_PASSWORD);
      return panel;
    },
    async restart() {
      await device.close();
      const next = await bootDevice(dataDir, env);
      next.logs.unshift(...logs);
      return next;
    },
    close: () => device.close(),
  };
  return handle;
}

export interface Lab {
  auth: AuthorizationServer;
  close(): Promise<void>;
}

export async function startLab(options: AuthorizationServerOptions = {}): Promise<Lab> {
  const auth = await startAuthorizationServer({ deviceInterval: 1, ...options });
  return { auth, close: () => auth.close() };
}

/** A throwaway self-signed certificate for 127.0.0.1/localhost in `dir`, or undefined without openssl. */
export function throwawayCertificate(dir: string): { certFile: string; keyFile: string } | undefined {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return undefined;
  }
  return { certFile, keyFile };
}

/** Where Dovecot checks the device's tokens: the lab's introspection endpoint, with its client's credentials. */
export function introspectionUrl(lab: Lab): string {
  const url = new URL(lab.auth.endpoints.introspection);
  url.username = encodeURIComponent(lab.auth.introspector.clientId);
  url.password = encodeURIComponent(lab.auth.introspector.clientSecret);
  return url.href;
}

/** Registers the lab as a provider and points SMTP (and optionally POP) at one account. */
export async function configureOAuth(panel: PanelClient, lab: Lab, options: { pop?: boolean; account?: string; popAccount?: string } = {}): Promise<string> {
  const providerId = await panel.addProvider({
    name: 'Lab IdP',
    issuerUrl: lab.auth.issuer,
    clientId: lab.auth.device.clientId,
    clientSecret: lab.auth.device.clientSecret,
    smtpScope: lab.auth.scopes.smtp,
    popScope: lab.auth.scopes.pop,
    extraScope: 'offline_access',
  });
  const account = options.account ?? lab.auth.accounts[0]!.email;
  const smtp = await panel.saveSettings('smtp', {
    primaryServer: '127.0.0.1', port: '2525', timeout: '20', senderName: 'Scanner', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account,
  });
  if (smtp.status !== 200) throw new Error('saving SMTP failed');
  if (options.pop) {
    const pop = await panel.saveSettings('pop', {
      server: '127.0.0.1', port: '1110', checkInterval: '5', ssl: 'none', authMethod: 'oauth2', providerId, account: options.popAccount ?? account,
    });
    if (pop.status !== 200) throw new Error('saving POP failed');
  }
  return providerId;
}

/** Presses Get Token and OK on a page; returns the user code the page then shows. */
export async function requestUserCode(panel: PanelClient, purpose: PanelPurpose = 'smtp'): Promise<string> {
  await panel.getToken(purpose);
  const { pending } = await panel.tokenStatus(purpose);
  if (!pending) throw new Error(`no user code on the ${purpose} page after Get Token`);
  return pending.userCode;
}

/** Get Token and approval at the lab, as a person would do it; waits until the page reads Obtained. */
export async function obtainToken(panel: PanelClient, auth: Pick<AuthorizationServer, 'approveDeviceCode'>, purpose: PanelPurpose = 'smtp'): Promise<void> {
  await auth.approveDeviceCode(await requestUserCode(panel, purpose));
  await panel.waitForState(purpose, ['obtained'], 15_000);
}
