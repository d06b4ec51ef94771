/**
 * POP check benchmark (not a test: it prints figures and asserts only what the check must fetch).
 *
 * The device's own PopChecker (XOAUTH2 with a token from the store, checked by a real Dovecot through
 * the lab authorization server's introspection), called in-process as Check Now does:
 *   A. a first check of a mailbox holding 10 messages (nothing seen yet): fetches 10;
 *   B. a check of a mailbox holding 1,000 seen + 10 new messages: must fetch exactly 10.
 * Several rounds of each, medians; the ratio B / A shows that the cost follows the new mail, not the
 * mailbox size (B pays only a longer UIDL listing and a set difference over 1,000 UIDs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { dovecotAvailable, startDovecotLab } from '../firmware-sim/cloud/pop3-server.js';
import { mailboxKey } from '../server/mail/pop-inbox.js';
import { connectPop3 } from '../server/mail/pop3-client.js';
import { bootDevice, configureOAuth, startLab } from '../test/helpers/device.js';

const ROUNDS = 7;
const SEEN = 1_000;
const NEW = 10;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function message(i: number): string {
  return `From: Bench <bench@lab.example>\r\nTo: printer@lab.example\r\nSubject: Bench message ${i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <bench-${i}@lab.example>\r\n\r\n${'Please print this page.\r\n'.repeat(40)}`;
}

export interface PopCheckBenchResult {
  firstCheckOf10Ms: number;
  seen1000New10Ms: number;
  /** A bare session (connect, sign in, UIDL, QUIT; no fetching, no bookkeeping) on each mailbox. */
  bareUidl10Ms: number;
  bareUidl1010Ms: number;
  ratio: number;
  catchUp1000Ms: number;
}

export async function popCheckBench(): Promise<PopCheckBenchResult | undefined> {
  console.log('\n== POP check: 1,000 seen + 10 new vs a first check of 10 (XOAUTH2, Dovecot, loopback) ==');
  if (!dovecotAvailable()) {
    console.log('skipped: /usr/sbin/dovecot is not installed (apt-get install dovecot-core dovecot-pop3d)');
    return undefined;
  }
  const lab = await startLab({ deviceCodeTtl: 600 });
  const introspection = new URL('/token/introspection', lab.auth.issuer);
  introspection.username = encodeURIComponent(lab.auth.introspector.clientId);
  introspection.password = encodeURIComponent(lab.auth.introspector.clientSecret);
  const pop = await startDovecotLab({ introspection: { url: introspection.href } });
  const device = await bootDevice();
  try {
    const panel = await device.panel();
    const providerId = await configureOAuth(panel, lab);
    const account = lab.auth.accounts[0]!.email;
    await panel.saveSettings('pop', { server: '127.0.0.1', port: String(pop.port), checkInterval: '1440', ssl: 'none', authMethod: 'oauth2', providerId, account });
    await panel.getToken('pop');
    const { pending } = await panel.tokenStatus('pop');
    await lab.auth.approveDeviceCode(pending!.userCode);
    await panel.waitForState('pop', ['obtained'], 15_000);

    const { popChecker, db } = device.device.services;
    const mailbox = mailboxKey('127.0.0.1', account);
    const maildir = path.join(pop.dir, 'mail', account, 'Maildir');
    const key = { providerId: Number(providerId), account };
    // What the POP server and the protocol cost by themselves: sign in, UIDL, QUIT.
    const bareUidl = async (): Promise<number> => {
      const token = await device.device.services.tokens.getAccessToken(key);
      const started = performance.now();
      const session = await connectPop3({ host: '127.0.0.1', port: pop.port, security: 'none', timeoutMs: 10_000 });
      await session.capabilities();
      await session.loginWithXoauth2(account, token);
      await session.uidl();
      await session.quit();
      return performance.now() - started;
    };
    const check = async (expected: number): Promise<{ ms: number; durationMs: number }> => {
      const started = performance.now();
      const outcome = await popChecker.checkNow();
      const ms = performance.now() - started;
      if (!outcome.ok || outcome.fetched !== expected) {
        throw new Error(`expected ${expected} fetched, got ${outcome.fetched} (${outcome.problem?.code ?? 'ok'} ${outcome.problem?.detail ?? ''})`);
      }
      return { ms, durationMs: outcome.durationMs };
    };

    // A. First check of 10: the mailbox holds 10 messages and the device has seen none of them.
    let n = 0;
    for (let i = 0; i < NEW; i++) await pop.deliver(account, message(n++));
    await check(NEW); // warm-up: JIT, Dovecot's processes, the introspection client
    const first: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      db.prepare('DELETE FROM pop_seen WHERE mailbox = ?').run(mailbox);
      first.push((await check(NEW)).ms);
    }
    const bare10: number[] = [];
    for (let round = 0; round < ROUNDS; round++) bare10.push(await bareUidl());

    // Fill up to 1,000 seen. For context: what fetching them costs (at most 100 per check, so the
    // first checks after a long outage do not run for minutes; the rest follow at the next ones).
    for (let i = NEW; i < SEEN; i++) await pop.deliver(account, message(n++));
    const catchUpStarted = performance.now();
    let catchUpChecks = 0;
    for (let left = SEEN - NEW; left > 0; left -= Math.min(left, 100)) {
      await check(Math.min(left, 100));
      catchUpChecks++;
    }
    const catchUp = { ms: performance.now() - catchUpStarted, checks: catchUpChecks };

    // B. 1,000 seen + 10 new; afterwards the 10 are removed again, so every round starts from 1,000.
    const seenPlusNew: number[] = [];
    const bare1010: number[] = [];
    for (let round = 0; round < ROUNDS + 1; round++) {
      const names: string[] = [];
      for (let i = 0; i < NEW; i++) names.push(await pop.deliver(account, message(n++)));
      const { ms } = await check(NEW);
      if (round > 0) seenPlusNew.push(ms); // round 0 warms the 1,000-line UIDL path
      if (round > 0) bare1010.push(await bareUidl());
      for (const name of names) {
        for (const sub of ['new', 'cur']) {
          const dir = path.join(maildir, sub);
          for (const file of fs.readdirSync(dir)) if (file.startsWith(name)) fs.unlinkSync(path.join(dir, file));
        }
      }
    }

    const a = median(first);
    const b = median(seenPlusNew);
    const result = { firstCheckOf10Ms: a, seen1000New10Ms: b, ratio: b / a, catchUp1000Ms: catchUp.ms, bareUidl10Ms: median(bare10), bareUidl1010Ms: median(bare1010) };
    console.log(`first check, mailbox of ${NEW}, fetches ${NEW}:           median ${a.toFixed(1)} ms (${ROUNDS} rounds: ${first.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`${SEEN} seen + ${NEW} new, fetches exactly ${NEW}:          median ${b.toFixed(1)} ms (${ROUNDS} rounds: ${seenPlusNew.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`ratio (1,000 seen + 10 new) / (first check of 10):  ${result.ratio.toFixed(2)}`);
    console.log(`bare session (connect, CAPA, XOAUTH2, UIDL, QUIT), no fetching: ${result.bareUidl10Ms.toFixed(1)} ms on ${NEW} messages, ${result.bareUidl1010Ms.toFixed(1)} ms on ${SEEN + NEW}`);
    console.log(`for context, fetching ${SEEN - NEW} messages (${catchUp.checks} checks of at most 100):  ${catchUp.ms.toFixed(0)} ms`);
    console.log('each check: 1 connection, 1 XOAUTH2 sign-in (introspected by Dovecot), CAPA, UIDL, RETR per new message, QUIT');
    return result;
  } finally {
    await device.close();
    await pop.close();
    await lab.close();
  }
}

/** Run alone: `node dist/bench/pop-check.bench.js` (after `npm run build`). */
export async function runPopCheckBench(): Promise<void> {
  await popCheckBench();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runPopCheckBench();
  process.exit(0);
}
