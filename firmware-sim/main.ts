/**
 * `npm start`: the simulated printer with its embedded lab, so a newcomer can press Get Token and
 * finish the whole flow offline. It starts, all on 127.0.0.1:
 *   - the lab's authorization server (oidc-provider) with a sign-in page a person can use,
 *   - the lab's SMTP server and, where Dovecot is installed, its POP3 server, both checking tokens,
 *   - the device itself as a separate process running compiled JavaScript (`dist/server/main.js`),
 * and at first boot registers the lab as an authorization server on the device and fills in the SMTP
 * and E-mail Status pages, through the panel's own forms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startAuthorizationServer } from './cloud/authorization-server.js';
import { dovecotAvailable, startDovecotLab, type DovecotLab } from './cloud/pop3-server.js';
import { startSmtpLab } from './cloud/smtp-server.js';
import { DEVICE_MAIN, deviceNodeFlags } from './device-process.js';
import { PanelClient } from './panel-client.js';

interface LabState {
  adminPassword: string;
  deviceClientSecret: string;
  introspectorSecret: string;
  configured: boolean;
}

const env = process.env;
const dataDir = path.resolve(env.MFP_DATA_DIR || './data');
const devicePort = Number(env.PORT || 8080);
const deviceHttpsPort = Number(env.HTTPS_PORT || 8443);
const ports = { auth: Number(env.LAB_AUTH_PORT || 9400), smtp: Number(env.LAB_SMTP_PORT || 2525), pop: Number(env.LAB_POP_PORT || 1110) };
const stateFile = path.join(dataDir, 'lab.json');

function loadState(): LabState {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (fs.existsSync(stateFile)) return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as LabState;
  const state: LabState = {
    adminPassword: env.MFP_ADMIN_PASSWORD || crypto.randomBytes(9).toString('base64url'),
    deviceClientSecret: crypto.randomBytes(24).toString('base64url'),
    introspectorSecret: crypto.randomBytes(24).toString('base64url'),
    configured: false,
  };
  fs.writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  return state;
}

async function waitForDevice(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the device exited with code ${child.exitCode}; see ${path.join(dataDir, 'device.log')}`);
    try {
      const response = await fetch(new URL('/login', url));
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the device did not answer within 20 s');
}

const state = loadState();
const auth = await startAuthorizationServer({
  port: ports.auth,
  deviceInterval: 2,
  deviceClientSecret: state.deviceClientSecret,
  introspectorSecret: state.introspectorSecret,
});
const account = auth.accounts[0]!;
const smtp = await startSmtpLab({ port: ports.smtp, authorizationServer: auth });
let pop: DovecotLab | undefined;
if (dovecotAvailable()) {
  const introspection = new URL('/token/introspection', auth.issuer);
  introspection.username = encodeURIComponent(auth.introspector.clientId);
  introspection.password = encodeURIComponent(auth.introspector.clientSecret);
  pop = await startDovecotLab({ port: ports.pop, introspection: { url: introspection.href } });
}

const deviceLog = fs.createWriteStream(path.join(dataDir, 'device.log'), { flags: 'a' });
const device = spawn(process.execPath, [...deviceNodeFlags(), DEVICE_MAIN], {
  // The lab's device also serves plain HTTP on loopback (first boot default), so QA tools and a
  // newcomer's browser need no certificate; HTTPS with the device's own certificate is there too.
  env: { ...env, PORT: String(devicePort), HTTPS_PORT: String(deviceHttpsPort), HOST: '127.0.0.1', MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: state.adminPassword, MFP_ALLOW_HTTP: '1' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
device.stdout!.pipe(deviceLog);
device.stderr!.pipe(deviceLog);
const deviceUrl = `http://127.0.0.1:${devicePort}`;

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    device.kill('SIGTERM');
    await Promise.allSettled([auth.close(), smtp.close(), pop?.close()]);
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
device.on('exit', (code) => {
  if (!stopping) {
    process.stderr.write(`The device stopped (exit code ${code}); see ${path.join(dataDir, 'device.log')}\n`);
    void stop(1);
  }
});

try {
  await waitForDevice(deviceUrl, device);
  if (!state.configured) {
    const panel = new PanelClient(deviceUrl);
    await panel.login(state.adminPassword);
    const providerId = await panel.addProvider({
      name: 'Lab IdP (simulated)',
      issuerUrl: auth.issuer,
      clientId: auth.device.clientId,
      clientSecret: auth.device.clientSecret,
      smtpScope: auth.scopes.smtp,
      popScope: auth.scopes.pop,
      extraScope: 'offline_access',
    });
    await panel.saveSettings('smtp', {
      primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '20', senderName: 'MFP lab scanner', senderAddress: account.email, ssl: 'none', authMethod: 'oauth2', providerId, account: account.email,
    });
    if (pop) {
      await panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '5', ssl: 'none', authMethod: 'oauth2', providerId, account: account.email });
    }
    fs.writeFileSync(stateFile, JSON.stringify({ ...state, configured: true }, null, 2), { mode: 0o600 });
  }
} catch (err) {
  process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await stop(1);
}

process.stdout.write(`
  Simulated printer is running (Ctrl+C stops everything).

  Web panel           ${deviceUrl}/
                      https://127.0.0.1:${deviceHttpsPort}/ (the device's self-signed certificate: your browser warns once)
    user name         admin
    password          ${state.adminPassword}   (the initial one; if you changed it, use yours)

  Lab sign-in (simulated identity provider at ${auth.issuer})
    login             ${account.login}
    password          ${account.password}

  Lab SMTP server     127.0.0.1:${smtp.port} (XOAUTH2, checks tokens)
  Lab POP3 server     ${pop ? `127.0.0.1:${pop.port} (Dovecot, XOAUTH2, checks tokens)` : 'not started: install dovecot-core and dovecot-pop3d'}

  Try it: open the panel, log in, go to System Settings › Network Settings › Service Settings › SMTP,
  press Get Token, then OK; open the link shown, enter the code, sign in with the lab login, approve.
  The token line turns to "Obtained" on the SMTP and the E-mail Status pages.
  Device log: ${path.join(dataDir, 'device.log')}
`);
