import type { Scenario } from '../framework.js';
import { subjectOf } from '../framework.js';
import { textOf } from '../../panel-client.js';

export const microsoft365: Scenario = {
  name: 'microsoft-365',
  title: 'against a Microsoft-shaped cloud (tenant paths, Microsoft scopes, public device client): registered as "Microsoft 365", Get Token → Obtained → scan delivered → POP fetch',
  setup: { shape: 'microsoft', pop: true, bridge: true },
  steps: [
    {
      title: 'Get Token at the tenant\'s device-code endpoint, approved → Obtained',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const shown = await ctx.panelShows('smtp');
        ctx.expectEqual(shown.label, 'Obtained', 'SMTP page token');
        const providers = textOf((await ctx.first.panel.get('/settings/network/oauth-servers')).html);
        ctx.expectMatch(providers, 'Microsoft 365 (delegated, device code)', 'OAuth Authorization Servers lists the lab as a Microsoft 365 provider');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token');
      },
    },
    {
      title: 'scan-to-email and an e-mail-print job, signed in with the Microsoft scopes',
      async run(ctx) {
        const mark = ctx.cloud.smtp.received.length;
        await ctx.scan({ to: ['alice@contoso.example'], subject: 'Scan via Exchange Online' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
        ctx.expectEqual(subjectOf(ctx.delivered(mark)[0]!.raw), 'Scan via Exchange Online', 'subject');
        await ctx.cloud.deliver({ subject: 'Print via Exchange Online' });
        const check = await ctx.popCheck();
        ctx.expectEqual([check.ok, check.fetched], [true, 1], 'POP check ok and fetched');
      },
    },
  ],
};
