import type { Scenario } from '../framework.js';

const WARNING = /The device clock is 10 minutes behind the clock of Lab IdP/;

export const clockSkew: Scenario = {
  name: 'clock-skew',
  title: 'the printer\'s clock is 10 minutes slow: the provider\'s Date header on a token call shows it, as a warning with the remedy on the SMTP page and the home page; fixed, the warning goes',
  setup: { accessTokenTtl: 2, bridge: true },
  steps: [
    {
      title: 'token obtained; the clocks agree',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.expectEqual((await ctx.homeNotice()).text, '', 'no notice on the home page');
      },
    },
    {
      title: 'the provider\'s clock is 10 minutes ahead of the printer\'s; a scan renews the token',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'clock_skew', ms: 10 * 60_000 } });
        const mark = ctx.cloud.smtp.received.length;
        await ctx.sleep(2_100);
        await ctx.scan({ to: ['alice@example.com'], subject: 'With a slow clock' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered (the lab itself does not mind)');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectMatch(smtp.pageText, WARNING, 'SMTP page: the clock warning');
        ctx.expectMatch(smtp.pageText, 'set the date and time of the device', 'with the remedy');
        const notice = await ctx.homeNotice();
        ctx.expectMatch(notice.text, WARNING, 'the home page warns too');
        ctx.expectEqual(notice.badges, [], 'no token needs a new sign-in: no badge');
      },
    },
    {
      title: 'the clock is put right: the next token call clears the warning',
      async run(ctx) {
        ctx.clearFaults();
        const mark = ctx.cloud.smtp.received.length;
        await ctx.sleep(2_100);
        await ctx.scan({ to: ['alice@example.com'], subject: 'With the clock set' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
        ctx.expectEqual((await ctx.homeNotice()).text, '', 'no notice on the home page');
        ctx.expect(!WARNING.test((await ctx.panelShows('smtp')).pageText), 'no clock warning on the SMTP page');
      },
    },
  ],
};
