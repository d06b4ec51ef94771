import { en } from '../../../server/i18n/en.js';
import type { Scenario, ScenarioContext } from '../framework.js';
import { SMTP_REPLIES } from '../../cloud/faults.js';
import { textOf } from '../../panel-client.js';

/** A scan the server refuses with this 5.7.139 text: the SMTP page and the Token Event Log name its own cause and remedy. */
async function refusedWith(ctx: ScenarioContext, lab: string, code: string, subject: string): Promise<void> {
  await ctx.fault({ target: 'smtp', fault: { reply: SMTP_REPLIES[lab]!, on: 'auth' } });
  await ctx.scan({ to: ['alice@example.com'], subject });
  await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
  const smtp = await ctx.panelShows('smtp');
  ctx.expectEqual(smtp.reason, `${en[`reason.${code}` as keyof typeof en]} (${SMTP_REPLIES[lab]})`, 'reason: this cause, with the server\'s words');
  ctx.expectEqual(smtp.remedy, en[`reason.${code}.remedy` as keyof typeof en], 'the one remedy for this cause');
  const log = textOf((await ctx.first.panel.get('/settings/system/token-events')).html);
  ctx.note('panel', 'System Control › Token Event Log: the Invalid event says the cause and what to do');
  ctx.expectMatch(log, en[`reason.${code}` as keyof typeof en], 'the Token Event Log names the cause');
  ctx.expectMatch(log, en[`reason.${code}.remedy` as keyof typeof en], 'the Token Event Log says what to do');
}

export const smtp5739Causes: Scenario = {
  name: 'smtp-5.7.139-causes',
  title: 'one code, different causes: 535 5.7.139 "disabled for the Tenant" and then "disabled for the Mailbox" each give their own cause and remedy (page and event log); once allowed, the held scans go',
  setup: { bridge: true },
  timeoutMs: 90_000,
  steps: [
    {
      title: 'token obtained; the tenant has SMTP AUTH turned off',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        await refusedWith(ctx, '5.7.139-tenant', 'smtp_5.7.139_tenant', 'Blocked for the tenant');
      },
    },
    {
      title: 'the organization allows SMTP AUTH, but this mailbox still has it off',
      async run(ctx) {
        await ctx.pressDelete('smtp');
        await ctx.obtainToken('smtp');
        await refusedWith(ctx, '5.7.139-mailbox', 'smtp_5.7.139_mailbox', 'Blocked for the mailbox');
      },
    },
    {
      title: 'Authenticated SMTP turned on for the mailbox; Delete + Get Token: both scans are delivered',
      async run(ctx) {
        ctx.clearFaults();
        await ctx.pressDelete('smtp');
        await ctx.obtainToken('smtp');
        await ctx.waitFor(() => ctx.delivered(Number(ctx.data.mark)).length === 2, 'both held scans were delivered');
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
      },
    },
  ],
};
