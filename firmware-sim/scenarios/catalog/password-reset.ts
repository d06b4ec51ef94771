import type { Scenario } from '../framework.js';
import { subjectOf } from '../framework.js';

const REASON = /no longer accepts this token: the password was changed or reset/;
const REMEDY = 'Delete the token and obtain it again, signed in as the mailbox account.';

export const passwordReset: Scenario = {
  name: 'password-reset',
  seed: 'seed 000',
  title: 'the mailbox password is reset (grant destroyed) → the next send fails → Invalid on both pages with the remedy → Delete → Get Token → held jobs delivered, none lost',
  setup: { pop: true, bridge: true },
  steps: [
    {
      title: 'the printer works: token obtained, a scan is delivered',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const mark = ctx.cloud.smtp.received.length;
        await ctx.scan({ to: ['alice@example.com'], subject: 'Before the reset' });
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered');
      },
    },
    {
      title: 'the mailbox owner\'s password is reset at the provider',
      async run(ctx) {
        await ctx.fault({ target: 'provider', fault: { kind: 'password_reset' } });
      },
    },
    {
      title: 'the printer scans three documents: the server refuses the token, the renewal is refused',
      async run(ctx) {
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        for (const n of [1, 2, 3]) await ctx.scan({ to: [`bob${n}@example.com`], subject: `After the reset ${n}` });
        await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
        ctx.flushCloud();
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.label, 'Invalid', 'SMTP page token');
        ctx.expectMatch(smtp.reason, REASON, 'SMTP page reason');
        ctx.expectEqual(smtp.remedy, REMEDY, 'SMTP page: what to do');
        const pop = await ctx.panelShows('pop');
        ctx.expectEqual(pop.label, 'Invalid', 'E-mail Status page token');
        ctx.expectEqual(pop.reason, smtp.reason, 'the same reason on the E-mail Status page');
        ctx.expectMatch(pop.pageText, `What to do: ${REMEDY}`, 'the remedy is on the E-mail Status page');
      },
    },
    {
      title: 'nothing was sent and nothing lost: the three jobs are held',
      async run(ctx) {
        await ctx.waitForOutbox({ queued: 0, held: 3, failed: 0 }, 'three jobs held (bridge status)');
        const box = await ctx.outbox();
        ctx.expectMatch(box.summary, '0 queued, 3 held, 0 failed', 'the home page counts them');
        ctx.expectMatch(box.rows.map((r) => r.text).join(' '), 'Waiting for a usable OAuth 2.0 token', 'the home page says why');
        ctx.expectEqual(ctx.delivered(Number(ctx.data.mark)).length, 0, 'mail accepted by the server since the reset');
        const check = await ctx.popCheck();
        ctx.expectEqual(check.problem?.code, 'token_unavailable', 'a POP check is skipped for want of a token');
      },
    },
    {
      title: 'the technician presses Delete: Not obtained, the jobs stay held',
      async run(ctx) {
        await ctx.pressDelete('smtp');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Not obtained', 'SMTP page token');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Not obtained', 'E-mail Status page token');
        ctx.expectEqual((await ctx.status()).outbox.held, 3, 'still held');
      },
    },
    {
      title: 'Get Token, approved by the mailbox owner → Obtained → the held jobs go out, each once',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token');
        const mark = Number(ctx.data.mark);
        await ctx.waitFor(() => ctx.delivered(mark).length >= 3, 'the three held jobs delivered');
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
        await ctx.sleep(300);
        ctx.flushCloud();
        ctx.expectEqual(ctx.delivered(mark).map((m) => subjectOf(m.raw)).sort(), ['After the reset 1', 'After the reset 2', 'After the reset 3'], 'each delivered exactly once');
        await ctx.outbox();
        const check = await ctx.popCheck();
        ctx.expectEqual(check.ok, true, 'the POP check works again');
      },
    },
  ],
};
