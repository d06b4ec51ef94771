import type { Scenario } from '../framework.js';

export const largeRecipientList: Scenario = {
  name: 'large-recipient-list',
  seed: 'seed 002',
  title: 'a scan to 200 recipients → 4 batches of 50 on one SMTP session (one connection), each recipient once',
  setup: { bridge: true },
  steps: [
    { title: 'token obtained', async run(ctx) { await ctx.obtainToken('smtp'); } },
    {
      title: 'the printer scans to 200 addresses',
      async run(ctx) {
        const to = Array.from({ length: 200 }, (_, i) => `user${String(i + 1).padStart(3, '0')}@example.com`);
        const mark = ctx.cloud.smtp.received.length;
        const connections = ctx.cloud.smtp.connections;
        await ctx.scan({ to, subject: 'To everyone', pages: 3 });
        await ctx.waitFor(() => ctx.delivered(mark).length >= 4, 'four messages accepted');
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
        await ctx.sleep(200);
        ctx.flushCloud();
        const batches = ctx.delivered(mark);
        ctx.expectEqual(batches.map((b) => b.to.length), [50, 50, 50, 50], 'recipients per message');
        ctx.expectEqual(batches.flatMap((b) => b.to).sort(), [...to].sort(), 'every recipient exactly once');
        ctx.expectEqual(new Set(batches.map((b) => b.sessionId)).size, 1, 'SMTP sessions used');
        ctx.expectEqual(ctx.cloud.smtp.connections - connections, 1, 'TCP connections opened');
        const ids = new Set(batches.map((b) => /^Message-ID:\s*(\S+)/im.exec(b.raw.toString('utf8'))?.[1]));
        ctx.expectEqual(ids.size, 1, 'one message (one Message-ID) in four envelopes');
      },
    },
  ],
};
