import type { Scenario } from '../framework.js';

export const tokenExpiry: Scenario = {
  name: 'token-expiry',
  title: 'short-lived access tokens (2 s): the device renews before use; no send fails, no refused sign-in, Obtained throughout',
  setup: { accessTokenTtl: 2, pop: true, bridge: true },
  steps: [
    {
      title: 'token obtained (it lives 2 s)',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.data.authMark = String(ctx.cloud.smtp.authAttempts.length);
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
      },
    },
    {
      title: 'four scans 1.5 s apart, across three token lifetimes',
      async run(ctx) {
        for (const n of [1, 2, 3, 4]) {
          if (n > 1) await ctx.sleep(1_500);
          await ctx.scan({ to: ['alice@example.com'], subject: `Expiry ${n}` });
          await ctx.waitFor(() => ctx.delivered(Number(ctx.data.mark)).length >= n, `scan ${n} delivered`);
          ctx.flushCloud();
        }
      },
    },
    {
      title: 'a POP check with an expired token: renewed first, no refused sign-in',
      async run(ctx) {
        await ctx.sleep(2_100);
        const check = await ctx.popCheck();
        ctx.expectEqual(check.ok, true, 'the check succeeded');
        ctx.expect((ctx.cloud.popProxy?.injected.length ?? 0) === 0, 'no POP fault involved');
      },
    },
    {
      title: 'the admin sees nothing wrong',
      async run(ctx) {
        const refused = ctx.cloud.smtp.authAttempts.slice(Number(ctx.data.authMark)).filter((a) => !a.ok);
        ctx.expectEqual(refused.length, 0, 'sign-ins refused by the SMTP server');
        const box = await ctx.status();
        ctx.expectEqual([box.outbox.queued, box.outbox.held, box.outbox.failed], [0, 0, 0], 'outbox queued/held/failed');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
        const events = await ctx.tokenEvents();
        ctx.note('panel', `Token Event Log: ${Object.entries(events).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
        ctx.expect((events.refreshed ?? 0) >= 3, 'the token was renewed before each use (≥ 3 renewals)');
        ctx.expectEqual(events.invalidated ?? 0, 0, '"Token became invalid" events');
      },
    },
  ],
};
