import type { Scenario } from '../framework.js';

export const caeChallenge: Scenario = {
  name: 'cae-challenge',
  title: 'continuous access evaluation: a 401 insufficient_claims challenge on a renewal is answered with the claims and mail goes on; when answering fails too (MFA now required), Invalid with the reason, a notice, the scan held',
  setup: { shape: 'microsoft', accessTokenTtl: 2, bridge: true },
  steps: [
    {
      title: 'token obtained (access tokens live 2 s, so every scan renews)',
      async run(ctx) {
        await ctx.obtainToken('smtp');
      },
    },
    {
      title: 'the provider challenges the next renewal: the device asks again with the claims',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'insufficient_claims' } });
        const mark = ctx.cloud.smtp.received.length;
        await ctx.sleep(2_100);
        await ctx.scan({ to: ['alice@example.com'], subject: 'Challenged once' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
        const events = await ctx.tokenEvents();
        ctx.expectEqual(events.challenged ?? 0, 1, 'the Token Event Log shows the challenge');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
        ctx.expectEqual((await ctx.homeNotice()).text, '', 'no notice');
      },
    },
    {
      title: 'the policy now requires MFA: answering the challenge fails → Invalid, the scan held',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'insufficient_claims', strict: true } });
        await ctx.sleep(2_100);
        await ctx.scan({ to: ['alice@example.com'], subject: 'Challenged again' });
        await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
        await ctx.waitForOutbox({ queued: 0, held: 1, failed: 0 }, 'the scan is held');
        await ctx.expectInvalidAndTold('smtp', /asked for a fresh sign-in or more claims .*AADSTS50076/);
      },
    },
    {
      title: 'Get Token (signed in with MFA) → the held scan goes out',
      async run(ctx) {
        ctx.clearFaults();
        const mark = ctx.cloud.smtp.received.length;
        await ctx.pressDelete('smtp');
        await ctx.obtainToken('smtp');
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'the held scan delivered');
        ctx.expectEqual((await ctx.homeNotice()).text, '', 'no notice any more');
      },
    },
  ],
};
