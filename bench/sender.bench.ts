/**
 * Sender benchmark (not a test: it prints figures and asserts nothing about time).
 *
 * 1. 1,000 one-recipient mails through the device's pooled sender (outbox included) to the lab SMTP
 *    server, with XOAUTH2 (token from the store, checked by introspection at the lab) and with
 *    SMTP-AUTH PLAIN, alternating, several rounds; each measured run opens its own session (a new
 *    pool) so both pay one connection and one sign-in. Goal: XOAUTH2 / password >= 0.9.
 * 2. 1,000 concurrent getAccessToken() when the access token has expired: token requests counted
 *    at the lab authorization server's HTTP server (diagnostics channel). Goal: exactly 1.
 */
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { smtpForm } from '../server/settings/pages.js';
import { bootMailDevice, obtainToken, SMTP_PASSWORD, startMailLab, waitFor, type MailLab } from '../test/server/mail/sender-helpers.js';

const MAILS = 1_000;
const ROUNDS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Counts POST /token requests reaching the HTTP server listening on `port`. */
export function countTokenRequests(port: number): { readonly count: number; stop(): void } {
  let count = 0;
  const onStart = (message: unknown) => {
    const { request, server } = message as { request: IncomingMessage; server: Server };
    const address = server.address();
    if (typeof address === 'object' && address?.port === port && request.method === 'POST' && request.url?.split('?')[0] === '/token') count++;
  };
  diagnostics.subscribe('http.server.request.start', onStart);
  return {
    get count() {
      return count;
    },
    stop: () => diagnostics.unsubscribe('http.server.request.start', onStart),
  };
}

async function mailBench(): Promise<void> {
  const mail = await startMailLab();
  const { device, panel, providerId } = await bootMailDevice(mail, { pop: false });
  try {
    await obtainToken(panel, mail);
    const { sender, settings } = device.device.services;
    const base = { primaryServer: '127.0.0.1', port: mail.smtp.port, timeout: 20, senderName: 'Bench', senderAddress: mail.account, ssl: 'none' };
    const modes = {
      xoauth2: () => settings.save(smtpForm, { ...base, authMethod: 'oauth2', providerId: Number(providerId), account: mail.account }, {}),
      password: () => settings.save(smtpForm, { ...base, authMethod: 'smtp-auth', authUser: mail.account }, { authPassword: SMTP_PASSWORD }),
    } as const;
    const tokenRequests = countTokenRequests(Number(new URL(mail.lab.auth.issuer).port));

    async function run(mode: keyof typeof modes, count: number, label: string) {
      modes[mode](); // new settings fingerprint → the sender opens a new pooled session
      const received = mail.smtp.received.length;
      const connections = mail.smtp.connections;
      const auths = mail.smtp.authAttempts.length;
      const tokens = tokenRequests.count;
      const start = performance.now();
      for (let i = 0; i < count; i++) sender.enqueue({ kind: 'alert', to: `bench${i}@example.com`, subject: `${label} ${i}`, text: 'Toner low.' });
      const enqueued = performance.now() - start;
      await waitFor(() => mail.smtp.received.length >= received + count, `${count} ${mode} mails`, 120_000);
      const elapsed = performance.now() - start;
      await sender.idle();
      const methods = new Set(mail.smtp.authAttempts.slice(auths).map((a) => a.method));
      return {
        rate: (count / elapsed) * 1000,
        elapsed,
        enqueued,
        connections: mail.smtp.connections - connections,
        signIns: mail.smtp.authAttempts.length - auths,
        methods: [...methods].join(','),
        tokenRequests: tokenRequests.count - tokens,
      };
    }

    // Warm-up: JIT, the first session of each mode, the token.
    await run('xoauth2', 200, 'warm-up');
    await run('password', 200, 'warm-up');

    const results: Record<keyof typeof modes, Awaited<ReturnType<typeof run>>[]> = { xoauth2: [], password: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Always switching modes, so that every measured run opens its own session and signs in once.
      for (const mode of ['xoauth2', 'password'] as const) {
        results[mode].push(await run(mode, MAILS, `round ${round}`));
      }
    }
    tokenRequests.stop();

    console.log(`\n1) ${MAILS} mails through the pooled sender (outbox + 1 SMTP session), ${ROUNDS} rounds, median`);
    for (const mode of ['xoauth2', 'password'] as const) {
      const runs = results[mode];
      console.log(
        `   ${mode.padEnd(8)}  ${median(runs.map((r) => r.rate)).toFixed(0).padStart(5)} mails/s` +
          `   (runs: ${runs.map((r) => r.rate.toFixed(0)).join(', ')} mails/s; ${median(runs.map((r) => r.elapsed)).toFixed(0)} ms each, enqueue ${median(runs.map((r) => r.enqueued)).toFixed(0)} ms)` +
          `   connections per run: ${runs.map((r) => r.connections).join(', ')}; sign-ins: ${runs.map((r) => `${r.signIns} ${r.methods}`).join(', ')}; token requests: ${runs.map((r) => r.tokenRequests).join(', ')}`,
      );
    }
    const ratio = median(results.xoauth2.map((r) => r.rate)) / median(results.password.map((r) => r.rate));
    // Each round runs both modes back to back: the ratio within a round is less exposed to other load.
    const paired = median(results.xoauth2.map((r, i) => r.rate / results.password[i]!.rate));
    console.log(`   ratio XOAUTH2 / password: ${ratio.toFixed(2)} of the medians, ${paired.toFixed(2)} median of the ${ROUNDS} paired rounds (goal >= 0.9)`);
  } finally {
    await device.close();
    await mail.close();
  }
}

async function tokenBench(): Promise<void> {
  const mail: MailLab = await startMailLab({ accessTokenTtl: 2 });
  const { device, panel } = await bootMailDevice(mail, { pop: false });
  try {
    await obtainToken(panel, mail);
    const { tokens, accounts } = device.device.services;
    const key = accounts.keyFor('smtp')!;
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the access token has expired
    const counter = countTokenRequests(Number(new URL(mail.lab.auth.issuer).port));
    const start = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 1_000 }, () => tokens.getAccessToken(key)));
    const elapsed = performance.now() - start;
    counter.stop();
    const values = new Set(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
    const failed = results.filter((r) => r.status === 'rejected').length;
    console.log(`\n2) 1000 concurrent getAccessToken() with an expired access token`);
    console.log(`   token requests at the lab: ${counter.count} (goal exactly 1); distinct tokens handed out: ${values.size}; failed calls: ${failed}; ${elapsed.toFixed(0)} ms`);
  } finally {
    await device.close();
    await mail.close();
  }
}

export async function senderBench(): Promise<void> {
  console.log(`sender bench — node ${process.version}, ${process.platform}/${process.arch}`);
  await mailBench();
  await tokenBench();
}
