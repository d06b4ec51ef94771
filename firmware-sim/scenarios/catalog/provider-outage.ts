import type { Scenario } from '../framework.js';

// 6 s access tokens: inside the device's 5-minute renewal margin, so each new SMTP session (the
// device recycles its session 5 s before the token ends, i.e. after 1 s here) renews first.
const TTL = 6;

export const providerOutage: Scenario = {
  name: 'provider-outage',
  title: 'the provider fails (500s, malformed JSON) while the token must be renewed: the token stays Obtained with a warning, mail goes out while the old token lasts, then waits and is retried; the provider back, everything recovers',
  setup: { accessTokenTtl: TTL, pop: true, bridge: true },
  timeoutMs: 90_000,
  steps: [
    {
      title: 'token obtained; a scan goes out (the token is renewed for it)',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const mark = ctx.cloud.smtp.received.length;
        await ctx.scan({ to: ['alice@example.com'], subject: 'Before the outage' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
        ctx.data.renewedAt = String(Date.now());
      },
    },
    {
      title: 'the token endpoint answers 500, then malformed JSON: renewals fail, scans still go out with the current token',
      async run(ctx) {
        const since = Number(ctx.data.renewedAt);
        await ctx.fault({ target: 'provider', fault: { kind: 'server_error', endpoint: 'token' } });
        let mark = ctx.cloud.smtp.received.length;
        await ctx.sleep(Math.max(0, since + 1_800 - Date.now()));
        await ctx.scan({ to: ['alice@example.com'], subject: 'During the outage (500)' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
        await ctx.fault({ target: 'provider', fault: { kind: 'malformed_json', endpoint: 'token' } });
        mark = ctx.cloud.smtp.received.length;
        await ctx.sleep(Math.max(0, since + 3_300 - Date.now()));
        await ctx.scan({ to: ['alice@example.com'], subject: 'During the outage (malformed JSON)' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.label, 'Obtained', 'SMTP page token stays Obtained');
        ctx.expectMatch(smtp.warning, /could not be reached/, 'the page warns that the provider could not be reached');
        const events = await ctx.tokenEvents();
        ctx.expect((events.unreachable ?? 0) >= 2, `the Token Event Log records the failed renewals (${events.unreachable ?? 0} × Provider unreachable)`);
      },
    },
    {
      title: 'the old token runs out during the outage: the scan waits in the outbox, nothing is lost, the token stays Obtained',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'server_error', endpoint: 'token' } });
        await ctx.sleep(Math.max(0, Number(ctx.data.renewedAt) + TTL * 1000 + 800 - Date.now()));
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        await ctx.scan({ to: ['alice@example.com'], subject: 'Waits for the provider' });
        await ctx.waitFor(async () => ((await ctx.status()).outbox.queued === 1 && (await ctx.outbox(1, true)).rows.some((r) => /attempt/i.test(r.text))) || undefined, 'the job is queued for a retry');
        await ctx.outbox();
        ctx.expectEqual(ctx.delivered(Number(ctx.data.mark)).length, 0, 'not sent yet');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.label, 'Obtained', 'SMTP page token stays Obtained');
        const check = await ctx.popCheck();
        ctx.expectEqual(check.problem?.code, 'token_unreachable', 'a POP check now says the provider could not be reached (temporary)');
      },
    },
    {
      title: 'the provider is back: the retry renews the token and delivers; the warning goes',
      async run(ctx) {
        ctx.clearFaults();
        await ctx.waitFor(() => ctx.delivered(Number(ctx.data.mark)).length === 1, 'the waiting scan was delivered by the device\'s own retry', 30_000, 250);
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.label, 'Obtained', 'SMTP page token');
        ctx.expectEqual(smtp.warning, null, 'no warning any more');
        ctx.expectEqual(ctx.cloud.smtp.authAttempts.filter((a) => !a.ok).length, 0, 'sign-ins refused by the SMTP server during the whole outage');
        const check = await ctx.popCheck();
        ctx.expectEqual(check.ok, true, 'POP checks work again');
      },
    },
  ],
};
