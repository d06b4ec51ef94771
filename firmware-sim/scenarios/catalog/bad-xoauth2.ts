import { en } from '../../../server/i18n/en.js';
import type { Scenario, Step } from '../framework.js';
import { SMTP_REPLIES } from '../../cloud/faults.js';

const CODES = ['5.5.121', '5.5.122', '5.5.123', '5.5.124', '5.5.125', '5.5.126', '5.5.127', '5.5.128', '5.5.129'] as const;

const rounds: Step[] = CODES.map((code) => ({
  title: `the server answers ${SMTP_REPLIES[code]}`,
  async run(ctx) {
    const reply = SMTP_REPLIES[code]!;
    await ctx.fault({ target: 'smtp', fault: { reply, on: 'auth' } });
    await ctx.obtainToken('smtp');
    await ctx.scan({ to: ['alice@example.com'], subject: `XOAUTH2 ${code}` });
    await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
    ctx.flushCloud();
    const smtp = await ctx.panelShows('smtp');
    const key = `reason.smtp_${code}` as keyof typeof en;
    ctx.expectEqual(smtp.reason, `${en[key]} (${reply})`, 'reason: the code\'s own message');
    ctx.expectEqual(smtp.remedy, en[`${key}.remedy` as keyof typeof en], 'what to do');
    ctx.clearFaults();
    await ctx.pressDelete('smtp');
  },
}));

export const badXoauth2: Scenario = {
  name: 'bad-xoauth2',
  title: 'each 501 5.5.12x XOAUTH2 error (DIGEST) → Invalid with that code\'s message and remedy; afterwards every held scan goes out',
  setup: { bridge: true },
  timeoutMs: 90_000,
  steps: [
    ...rounds,
    {
      title: 'the cause fixed: Get Token → the nine held scans are delivered',
      async run(ctx) {
        const mark = ctx.cloud.smtp.received.length;
        await ctx.obtainToken('smtp');
        await ctx.waitFor(() => ctx.delivered(mark).length >= CODES.length, `${CODES.length} held scans delivered`, 20_000);
        await ctx.waitForOutbox({ queued: 0, held: 0, failed: 0 }, 'the outbox is empty');
      },
    },
  ],
};
