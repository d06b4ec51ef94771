import { en } from '../../../server/i18n/en.js';
import type { Scenario } from '../framework.js';
import { SMTP_REPLIES } from '../../cloud/faults.js';

export const smtpAuthDisabled: Scenario = {
  name: 'smtp-auth-disabled',
  title: 'the tenant disables SMTP AUTH (535 5.7.139) → Invalid with its own message and remedy, the job held; once allowed again, Delete + Get Token delivers it',
  setup: { bridge: true },
  steps: [
    {
      title: 'token obtained; the tenant then turns SMTP AUTH off',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        await ctx.fault({ target: 'smtp', fault: { reply: SMTP_REPLIES['5.7.139']!, on: 'auth' } });
      },
    },
    {
      title: 'a scan: the server says 535 5.7.139 (also after one forced renewal)',
      async run(ctx) {
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        await ctx.scan({ to: ['alice@example.com'], subject: 'Blocked by 5.7.139' });
        await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
        ctx.flushCloud();
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.reason, `${en['reason.smtp_5.7.139_tenant']} (${SMTP_REPLIES['5.7.139']})`, 'reason: the code\'s own message with the server\'s reply');
        ctx.expectEqual(smtp.remedy, en['reason.smtp_5.7.139_tenant.remedy'], 'what to do');
        await ctx.waitForOutbox({ held: 1 }, 'the job is held');
        const box = await ctx.outbox();
        ctx.expectMatch(box.rows.map((r) => r.text).join(' '), /Held/, 'the home page lists it as held');
      },
    },
    {
      title: 'the tenant admin allows SMTP AUTH; the technician deletes the token and gets a new one',
      async run(ctx) {
        ctx.clearFaults();
        await ctx.pressDelete('smtp');
        await ctx.obtainToken('smtp');
        await ctx.waitFor(() => ctx.delivered(Number(ctx.data.mark)).length === 1, 'the held job was delivered');
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
      },
    },
  ],
};
