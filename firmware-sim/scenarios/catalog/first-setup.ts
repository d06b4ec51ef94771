import type { Scenario } from '../framework.js';
import { subjectOf } from '../framework.js';

export const firstSetup: Scenario = {
  name: 'first-setup',
  title: 'a new printer: device code approved → Obtained on SMTP and POP → scan-to-email delivered → an e-mail-print job fetched',
  setup: { pop: true, bridge: true },
  steps: [
    {
      title: 'the fresh device shows no token on either page',
      async run(ctx) {
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Not obtained', 'SMTP page token');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Not obtained', 'E-mail Status page token');
      },
    },
    {
      title: 'the technician presses Get Token; the page waits with a code',
      async run(ctx) {
        const code = await ctx.pressGetToken('smtp');
        ctx.expect(code, 'the page shows a user code');
        const shown = await ctx.panelShows('smtp');
        ctx.expectEqual(shown.label, 'Awaiting authorization', 'SMTP page token');
        ctx.expectMatch(shown.pageText, code!, 'the code is on the page');
        ctx.data.code = code!;
      },
    },
    {
      title: 'the mailbox owner approves the code at the provider → Obtained on both pages',
      async run(ctx) {
        const code = ctx.data.code!;
        await ctx.cloud.auth.approveDeviceCode(code);
        ctx.note('person', `signs in as ${ctx.cloud.account.login} and approves ${code}`);
        await ctx.first.panel.waitForState('smtp', ['obtained'], 15_000);
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token (shared)');
        ctx.expectEqual((await ctx.status()).tokens, { smtp: 'obtained', pop: 'obtained' }, 'the bridge reports both tokens');
      },
    },
    {
      title: 'the printer scans a 2-page document to two recipients',
      async run(ctx) {
        const mark = ctx.cloud.smtp.received.length;
        const job = await ctx.scan({ to: ['alice@example.com', 'bob@example.com'], subject: 'First scan', pages: 2 });
        ctx.expectEqual(job.held, false, 'the job is not held');
        const [mail] = await ctx.waitFor(() => { const d = ctx.delivered(mark); return d.length ? d : undefined; }, 'the lab SMTP server accepted the mail');
        ctx.flushCloud();
        ctx.expectEqual(mail!.to.sort(), ['alice@example.com', 'bob@example.com'], 'recipients');
        ctx.expectEqual(mail!.user, ctx.cloud.account.email, 'signed in with XOAUTH2 as the account');
        ctx.expectEqual(subjectOf(mail!.raw), 'First scan', 'subject');
        ctx.expectMatch(mail!.raw.toString('utf8'), /application\/pdf/, 'a PDF is attached');
        const status = await ctx.waitFor(async () => { const s = await ctx.status(); return s.outbox.queued + s.outbox.held + s.outbox.failed === 0 ? s : undefined; }, 'the outbox is empty');
        ctx.expectEqual({ queued: status.outbox.queued, held: status.outbox.held, failed: status.outbox.failed }, { queued: 0, held: 0, failed: 0 }, 'outbox (bridge)');
        await ctx.outbox();
      },
    },
    {
      title: 'someone e-mails the printer; the next POP check fetches it as an e-mail-print job',
      async run(ctx) {
        await ctx.cloud.deliver({ subject: 'Please print: quarterly report' });
        ctx.flushCloud();
        const answer = await ctx.popCheck();
        ctx.expectEqual(answer.ok, true, 'the check succeeded');
        ctx.expectEqual(answer.fetched, 1, 'messages fetched');
        ctx.expectEqual(ctx.first.printer.printJobs.length, 1, 'e-mail print jobs on the printer');
        const inbox = await ctx.first.panel.get('/settings/system/email-status/inbox').catch(() => undefined);
        if (inbox && inbox.status === 200) ctx.note('panel', `E-mail Print Inbox lists "quarterly report": ${inbox.html.includes('quarterly report')}`);
      },
    },
  ],
};
