import type { Scenario } from '../framework.js';
import { subjectOf } from '../framework.js';

export const conditionalAccess: Scenario = {
  name: 'conditional-access',
  title: 'a Conditional Access sign-in frequency policy ends the grant (AADSTS70043): the scan is held, not lost; Invalid with the reason, a notice and a badge; Get Token sends the held scan',
  setup: { shape: 'microsoft', accessTokenTtl: 2, bridge: true },
  steps: [
    {
      title: 'token obtained (access tokens live 2 s, so every scan renews)',
      async run(ctx) {
        await ctx.obtainToken('smtp');
      },
    },
    {
      title: 'the tenant\'s policy now requires a new sign-in; the printer scans',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'sign_in_frequency' } });
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        await ctx.sleep(2_100);
        await ctx.scan({ to: ['alice@example.com'], subject: 'Under the new policy' });
        await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
        await ctx.waitForOutbox({ queued: 0, held: 1, failed: 0 }, 'the scan is held');
      },
    },
    {
      title: 'the admin sees why and what to do',
      async run(ctx) {
        await ctx.expectInvalidAndTold('smtp', 'AADSTS70043');
        ctx.expectEqual(ctx.delivered(Number(ctx.data.mark)).length, 0, 'nothing was sent');
      },
    },
    {
      title: 'Get Token (a fresh sign-in satisfies the policy) → the held scan goes out once',
      async run(ctx) {
        await ctx.pressDelete('smtp');
        await ctx.obtainToken('smtp');
        const mark = Number(ctx.data.mark);
        await ctx.waitFor(() => ctx.delivered(mark).length >= 1, 'the held scan delivered');
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
        ctx.expectEqual(ctx.delivered(mark).map((m) => subjectOf(m.raw)), ['Under the new policy'], 'delivered exactly once');
        ctx.expectEqual((await ctx.homeNotice()).text, '', 'no notice any more');
      },
    },
  ],
};
