import type { Scenario } from '../framework.js';

export const deviceCodeTimeout: Scenario = {
  name: 'device-code-timeout',
  title: 'nobody enters the code before it runs out (3 s device codes) → Not obtained with "not entered in time"; also when the provider says expired_token at once',
  setup: { deviceCodeTtl: 3 },
  steps: [
    {
      title: 'Get Token, and nobody goes to the provider',
      async run(ctx) {
        await ctx.pressGetToken('smtp');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Awaiting authorization', 'SMTP page token');
      },
    },
    {
      title: 'the code runs out → the page tells what happened and what to do',
      async run(ctx) {
        const status = await ctx.first.panel.waitForState('smtp', ['not_obtained', 'invalid'], 15_000);
        const shown = await ctx.panelShows('smtp');
        ctx.expectEqual(shown.label, 'Not obtained', 'SMTP page token');
        ctx.expectMatch(status.reason, /^The code was not entered at the provider in time\./, 'reason');
        ctx.expectMatch(shown.remedy, 'enter the new code before the time runs out', 'what to do');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Not obtained', 'E-mail Status page token (shared)');
      },
    },
    {
      title: 'run-time fault: the provider answers the next poll with expired_token',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'expired_token', endpoint: 'token', count: 1 } });
        await ctx.pressGetToken('smtp');
        const status = await ctx.first.panel.waitForState('smtp', ['not_obtained', 'invalid'], 10_000);
        await ctx.panelShows('smtp');
        ctx.expectMatch(status.reason, /^The code was not entered at the provider in time\./, 'reason');
      },
    },
    {
      title: 'Get Token again and approve in time → Obtained',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
      },
    },
  ],
};
