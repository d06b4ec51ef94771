/**
 * RSS over a mixed run of the device under `npm run device`: page loads, scans to e-mail through the
 * firmware bridge (XOAUTH2 to the lab SMTP server), POP checks (XOAUTH2 to Dovecot), and token
 * renewals (the lab's access tokens live 60 s, so the device renews about every minute). Peak =
 * the kernel's VmHWM over the run (reset when the load starts); idle after = RSS some seconds after
 * the load stopped. Baseline: the same process idle just before the run. Budget 64 MB idle.
 *
 * 10 minutes in the full form; `--short` runs 1 minute. Standalone: `node dist/bench/mixed-run.bench.js`.
 */
import { BridgeClient, bridgeSocketPath } from '../firmware-sim/bridge-client.js';
import { startAuthorizationServer } from '../firmware-sim/cloud/authorization-server.js';
import { dovecotAvailable, startDovecotLab } from '../firmware-sim/cloud/pop3-server.js';
import { startSmtpLab } from '../firmware-sim/cloud/smtp-server.js';
import { makePdf } from '../firmware-sim/pdf.js';
import { countTokenRequests } from './sender.bench.js';
import { peakRssMb, resetPeak, sleep, spawnDevice } from './spawned-device.js';

const PAGES = ['/', '/settings/network/smtp', '/settings/system/email-status', '/settings/network/oauth-servers', '/settings/system/token-events', '/settings/system/email-status/inbox'];
/** The device renews 5 min before expiry: a 6-minute token is renewed about every minute. */
const ACCESS_TOKEN_TTL_S = 360;
const SETTLE_MS = 20_000;

export interface MixedRunFigures {
  idleBeforeMb: number;
  peakMb: number;
  idleAfterMb: number;
  pages: number;
  scans: number;
  popChecks: number;
  renewals: number;
}

export async function mixedRunBench(options: { durationMs: number; extraFlags?: string[]; onIdle?: (pid: number, point: string) => Promise<void> } = { durationMs: 600_000 }): Promise<MixedRunFigures | undefined> {
  if (!dovecotAvailable()) {
    console.log('\nMixed run skipped: /usr/sbin/dovecot is not installed');
    return undefined;
  }
  const auth = await startAuthorizationServer({ deviceInterval: 1, accessTokenTtl: ACCESS_TOKEN_TTL_S });
  const smtp = await startSmtpLab({ authorizationServer: auth, size: 16 * 1024 * 1024 });
  const introspection = new URL('/token/introspection', auth.issuer);
  introspection.username = encodeURIComponent(auth.introspector.clientId);
  introspection.password = encodeURIComponent(auth.introspector.clientSecret);
  const pop = await startDovecotLab({ introspection: { url: introspection.href } });
  const device = await spawnDevice({ extraFlags: options.extraFlags ?? [] });
  const tokenRequests = countTokenRequests(Number(new URL(auth.issuer).port));
  try {
    const panel = await device.panel();
    const account = auth.accounts[0]!.email;
    const providerId = await panel.addProvider({ name: 'Lab', issuerUrl: auth.issuer, clientId: auth.device.clientId, clientSecret: auth.device.clientSecret, smtpScope: auth.scopes.smtp, popScope: auth.scopes.pop, extraScope: 'offline_access' });
    await panel.saveSettings('smtp', { primaryServer: '127.0.0.1', port: String(smtp.port), timeout: '20', senderAddress: account, ssl: 'none', authMethod: 'oauth2', providerId, account });
    await panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '1', ssl: 'none', authMethod: 'oauth2', providerId, account });
    await panel.getToken('smtp');
    await auth.approveDeviceCode((await panel.tokenStatus('smtp')).pending!.userCode);
    await panel.waitForState('smtp', ['obtained']);
    const bridge = new BridgeClient(bridgeSocketPath(device.dataDir), 60_000);
    await sleep(SETTLE_MS);
    const idleBeforeMb = device.rss().rssMb;
    await options.onIdle?.(device.pid, 'before');

    resetPeak(device.pid);
    const renewalsBefore = tokenRequests.count;
    const counts = { pages: 0, scans: 0, popChecks: 0 };
    const until = Date.now() + options.durationMs;
    const pdf = makePdf(20, 'Mixed run').toString('base64');
    const loops = [
      // An admin browsing: a page every 200 ms.
      (async () => {
        for (let i = 0; Date.now() < until; i++) {
          await panel.get(PAGES[i % PAGES.length]!);
          counts.pages++;
          await sleep(200);
        }
      })(),
      // A scan to two recipients every 3 s.
      (async () => {
        while (Date.now() < until) {
          await bridge.scanToEmail({ to: [account, 'desk@lab.example'], fileName: 'scan.pdf', pdfBase64: pdf, pages: 20 });
          counts.scans++;
          await sleep(3_000);
        }
      })(),
      // Three mails arrive and the firmware asks for a POP check every 10 s (the schedule runs too).
      (async () => {
        for (let n = 0; Date.now() < until; ) {
          for (let i = 0; i < 3; i++) await pop.deliver(account, `From: a@lab.example\r\nSubject: print ${n++}\r\n\r\n${'Please print this page.\r\n'.repeat(40)}`);
          await bridge.popCheck();
          counts.popChecks++;
          await sleep(10_000);
        }
      })(),
    ];
    await Promise.all(loops);
    const peakMb = peakRssMb(device.pid);
    const renewals = tokenRequests.count - renewalsBefore;
    await sleep(SETTLE_MS);
    await options.onIdle?.(device.pid, 'after');
    const figures = { idleBeforeMb, peakMb, idleAfterMb: device.rss().rssMb, ...counts, renewals };
    console.log(`\nMixed run, ${(options.durationMs / 60_000).toFixed(0)} min (npm run device): ${figures.pages} page loads, ${figures.scans} scans (20 pages, 2 recipients), ${figures.popChecks} POP checks (3 new each), ${figures.renewals} token requests (access tokens live ${ACCESS_TOKEN_TTL_S} s, renewed 5 min before expiry)`);
    const line = (name: string, value: number) => `  ${name.padEnd(34)} ${value.toFixed(1).padStart(5)} MB   baseline (idle before) ${idleBeforeMb.toFixed(1)} MB   ratio ${(value / idleBeforeMb).toFixed(2)}`;
    console.log(line('peak RSS during the run (VmHWM)', peakMb));
    console.log(`${line(`RSS idle ${SETTLE_MS / 1000} s after the run`, figures.idleAfterMb)}   budget 64 MB: ${figures.idleAfterMb <= 64 ? 'met' : 'NOT MET'}`);
    return figures;
  } finally {
    tokenRequests.stop();
    await device.close();
    await Promise.all([auth.close(), smtp.close(), pop.close()]);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await mixedRunBench({ durationMs: process.argv.includes('--short') ? 60_000 : 600_000 });
  process.exit(0);
}
