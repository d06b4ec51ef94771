import type { Scenario } from '../framework.js';

const REMEDY = /Delete the token and obtain it again/;

export const idle90Days: Scenario = {
  name: 'idle-90-days',
  title: 'a printer that sends no mail for months (simulated clock): the device renews the grant by itself before Microsoft\'s 90-day inactivity limit; one left off for 100 days finds it dead (AADSTS700082), says so on the home page and the menu, and Get Token fixes it',
  setup: { shape: 'microsoft' },
  timeoutMs: 90_000,
  steps: [
    {
      title: 'token obtained; the panel forecasts the first renewal',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectMatch(smtp.pageText, /Obtained \d{4}-\d\d-\d\d \d\d:\d\d UTC; not renewed yet\. Next renewal \d{4}-\d\d-\d\d \d\d:\d\d UTC, mail or no mail \(the provider forgets a token unused for 90 days\)/, 'SMTP page: obtained, next renewal');
        ctx.data.mail = String(ctx.cloud.smtp.received.length);
        ctx.data.auth = String(ctx.cloud.smtp.authAttempts.length);
      },
    },
    {
      title: '34 days without a single mail (a third of 90 days, ±10 % jitter, has passed): the device renews the grant by itself',
      async run(ctx) {
        await ctx.advanceClock(34);
        await ctx.waitFor(async () => ((await ctx.tokenEvents()).refreshed ?? 0) >= 1, 'the Token Event Log shows a renewal');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.label, 'Obtained', 'SMTP page token');
        ctx.expectMatch(smtp.pageText, /; renewed \d{4}-\d\d-\d\d \d\d:\d\d UTC\. Next renewal/, 'the page says when it was renewed and when next');
        ctx.expectEqual(ctx.cloud.smtp.received.length - Number(ctx.data.mail), 0, 'mail sent meanwhile');
        ctx.expectEqual(ctx.cloud.smtp.authAttempts.length - Number(ctx.data.auth), 0, 'SMTP sign-ins meanwhile');
        const notice = await ctx.homeNotice();
        ctx.expectEqual(notice.text, '', 'no notice on the home page');
      },
    },
    {
      title: 'the printer is then left off for 100 days: the grant has died at the provider',
      async run(ctx) {
        await ctx.advanceClock(100);
        await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
        // The provider's reason (inactivity) is on the page.
        await ctx.expectInvalidAndTold('smtp', 'AADSTS700082', REMEDY);
      },
    },
    {
      title: 'the remedy: Get Token again → Obtained, the notice is gone',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
        const notice = await ctx.homeNotice();
        ctx.expectEqual([notice.text, notice.badges.length], ['', 0], 'no notice, no badge');
      },
    },
  ],
};
