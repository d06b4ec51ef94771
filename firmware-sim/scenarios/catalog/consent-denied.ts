import type { Scenario } from '../framework.js';

export const consentDenied: Scenario = {
  name: 'consent-denied',
  title: 'the mailbox owner declines at the provider → Not obtained with "declined" and what to do; a second try works',
  steps: [
    {
      title: 'the provider will see a declined consent (fault provider access_denied)',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'access_denied' } });
      },
    },
    {
      title: 'Get Token; the person declines → the page says so',
      async run(ctx) {
        await ctx.pressGetToken('smtp');
        const status = await ctx.first.panel.waitForState('smtp', ['not_obtained', 'invalid'], 15_000);
        ctx.flushCloud();
        const shown = await ctx.panelShows('smtp');
        ctx.expectEqual(shown.label, 'Not obtained', 'SMTP page token');
        ctx.expectMatch(status.reason, /^The request was declined at the provider\./, 'reason');
        ctx.expectMatch(shown.remedy, 'Press Get Token again and approve the request', 'what to do');
        ctx.expectMatch(shown.pageText, 'The request was declined at the provider.', 'the reason is on the page');
      },
    },
    {
      title: 'Get Token again, approved this time → Obtained',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
      },
    },
  ],
};
