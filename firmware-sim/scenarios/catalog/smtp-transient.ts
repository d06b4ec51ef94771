import type { Scenario } from '../framework.js';

export const smtpTransient: Scenario = {
  name: 'smtp-transient',
  title: 'temporary SMTP trouble (454 4.7.0 on AUTH, slow replies): the job is retried by itself and delivered once; the token stays Obtained',
  setup: { bridge: true },
  timeoutMs: 60_000,
  steps: [
    { title: 'token obtained', async run(ctx) { await ctx.obtainToken('smtp'); } },
    {
      title: 'the server answers 454 once: the job waits for a retry, the token is not blamed',
      async run(ctx) {
        await ctx.fault({ target: 'smtp', fault: { reply: '454 4.7.0 Temporary authentication failure', on: 'auth', count: 1 } });
        ctx.data.mark = String(ctx.cloud.smtp.received.length);
        await ctx.scan({ to: ['alice@example.com'], subject: 'After a 454' });
        await ctx.waitFor(async () => (await ctx.outbox(1, true)).rows.some((r) => /temporary problem/.test(r.text)), 'the home page says the server reported a temporary problem');
        await ctx.outbox();
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
      },
    },
    {
      title: 'slow replies (400 ms a step) meanwhile: the retry gets through, once',
      async run(ctx) {
        await ctx.fault({ target: 'smtp', fault: { kind: 'slow', ms: 400, count: 4 } });
        const mark = Number(ctx.data.mark);
        await ctx.waitFor(() => ctx.delivered(mark).length === 1, 'delivered by the device\'s own retry', 30_000, 250);
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
        await ctx.sleep(300);
        ctx.expectEqual(ctx.delivered(mark).length, 1, 'delivered exactly once');
        ctx.expectEqual((await ctx.panelShows('smtp')).label, 'Obtained', 'SMTP page token');
      },
    },
  ],
};
