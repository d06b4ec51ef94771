import type { Scenario } from '../framework.js';
import { subjectOf } from '../framework.js';

const N = 10;

export const manyPrinters: Scenario = {
  name: 'many-printers',
  title: `${N} printers (${N} device processes) share one cloud: all reach Obtained and deliver`,
  setup: { devices: N, bridge: true },
  timeoutMs: 120_000,
  steps: [
    {
      title: `Get Token on each of the ${N} printers, approved by the mailbox owner`,
      async run(ctx) {
        await Promise.all(ctx.printers.map((p) => ctx.obtainToken('smtp', p.number)));
        const labels = await Promise.all(ctx.printers.map(async (p) => (await ctx.panelShows('smtp', p.number, true)).label));
        ctx.expectEqual(labels, Array(N).fill('Obtained'), 'SMTP page token on every printer');
      },
    },
    {
      title: 'each printer scans one document',
      async run(ctx) {
        const mark = ctx.cloud.smtp.received.length;
        await Promise.all(ctx.printers.map((p) => ctx.scan({ to: ['office@example.com'], subject: `From printer ${p.number}` }, p.number)));
        await ctx.waitFor(() => ctx.delivered(mark).length >= N, `${N} scans delivered`, 30_000);
        ctx.flushCloud();
        ctx.expectEqual(ctx.delivered(mark).map((m) => subjectOf(m.raw)).sort(), ctx.printers.map((p) => `From printer ${p.number}`).sort(), 'one mail from each printer');
        const outboxes = await Promise.all(ctx.printers.map(async (p) => (await ctx.status(p.number)).outbox));
        ctx.expect(outboxes.every((o) => o.queued + o.held + o.failed === 0), 'every outbox is empty');
      },
    },
  ],
};
