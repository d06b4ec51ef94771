import { en } from '../../../server/i18n/en.js';
import type { Scenario } from '../framework.js';
import { SMTP_REPLIES } from '../../cloud/faults.js';
import { csrfTokenOf, textOf } from '../../panel-client.js';

const OTHER_SENDER = 'scanner@lab.example';

export const wrongSender: Scenario = {
  name: 'wrong-sender',
  title: '5.7.60: the Sender Address is not the signed-in mailbox → the scan fails with that cause and a "Set Sender Address to <account>" button; pressing it sets the Sender Address and the scan goes',
  setup: { bridge: true },
  steps: [
    {
      title: `token obtained; the Sender Address is ${OTHER_SENDER}, which the mailbox may not send as`,
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const saved = await ctx.first.panel.changeSettings('smtp', { senderAddress: OTHER_SENDER });
        ctx.expectEqual(saved.status, 200, 'saved');
        ctx.note('tech', `SMTP page › Sender Address ${OTHER_SENDER} › Save`);
        await ctx.fault({ target: 'smtp', fault: { kind: 'send_as' } });
      },
    },
    {
      title: 'a scan: 550 5.7.60; the home page says why and offers the fix; the token stays Obtained',
      async run(ctx) {
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        await ctx.scan({ to: ['alice@example.com'], subject: 'Sent as the wrong address' });
        await ctx.waitForOutbox({ failed: 1 }, 'the job failed (the server refused the From for good)');
        const box = await ctx.outbox();
        const row = box.rows[0]!.text;
        ctx.expectMatch(row, en['reason.smtp_5.7.60'], 'the cause: the Sender Address is not the signed-in mailbox');
        ctx.expectMatch(row, SMTP_REPLIES['5.7.60']!, 'with the server\'s words');
        ctx.expectMatch(row, en['reason.smtp_5.7.60.remedy'], 'what to do');
        const home = (await ctx.first.panel.get('/')).html;
        ctx.expectMatch(textOf(home), `Set Sender Address to ${ctx.cloud.account.email}`, 'the button that does it');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token (the token is not at fault)');
      },
    },
    {
      title: 'the technician presses "Set Sender Address to …": the Sender Address is the account, the refused scan is delivered',
      async run(ctx) {
        const { panel } = ctx.first;
        const home = (await panel.get('/')).html;
        const answer = await panel.request('POST', '/settings/network/smtp/sender-from-account', { _csrf: csrfTokenOf(home), back: 'home' });
        ctx.note('tech', `Device Status › Set Sender Address to ${ctx.cloud.account.email}`);
        ctx.expectMatch(textOf(answer.html), `The Sender Address is now ${ctx.cloud.account.email}`, 'the page confirms');
        const smtp = (await panel.get('/settings/network/smtp')).html;
        ctx.expectMatch(smtp, new RegExp(`name="senderAddress"[^>]*value="${ctx.cloud.account.email.replace(/[.]/g, '\\.')}"`), 'the SMTP page shows the account as Sender Address');
        const [mail] = await ctx.waitFor(() => { const d = ctx.delivered(Number(ctx.data.mark)); return d.length === 1 ? d : undefined; }, 'the refused scan was delivered');
        ctx.expectEqual(mail!.from, ctx.cloud.account.email, 'sent as the signed-in mailbox');
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
      },
    },
    {
      title: 'the next scan goes at once',
      async run(ctx) {
        const mark = ctx.cloud.smtp.received.length;
        await ctx.scan({ to: ['bob@example.com'], subject: 'Next scan' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
      },
    },
  ],
};
