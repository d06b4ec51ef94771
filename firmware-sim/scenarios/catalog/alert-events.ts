import type { Scenario } from '../framework.js';
import { subjectOf } from '../framework.js';
import { textOf } from '../../panel-client.js';

export const alertEvents: Scenario = {
  name: 'alert-events',
  title: 'device events: toner low, paper jam, service call show on Device Status and mail the E-mail Alert recipients; cleared → Ready',
  setup: { bridge: true },
  steps: [
    {
      title: 'token obtained; the admin enables E-mail Alert for two recipients',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const page = await ctx.first.panel.submit('/settings/system/email-alert', { enabled: 'on', recipients: 'admin@example.com\nservice@example.com', events: 'all' });
        ctx.note('tech', 'E-mail Alert › Enable, admin@example.com, service@example.com, All events › Save');
        ctx.expectEqual(page.status, 200, 'saved');
      },
    },
    {
      title: 'toner low, paper jam, service call',
      async run(ctx) {
        const mark = ctx.cloud.smtp.received.length;
        for (const kind of ['toner_low', 'paper_jam', 'service_call'] as const) {
          const answer = await ctx.first.printer.event(kind, kind === 'service_call' ? 'E7-03' : undefined);
          ctx.expect(answer.alertJobId !== null, `${kind}: an alert mail was queued`);
        }
        await ctx.waitFor(() => ctx.delivered(mark).length >= 3, 'three alert mails delivered');
        ctx.flushCloud();
        ctx.expect(ctx.delivered(mark).every((m) => m.to.sort().join() === 'admin@example.com,service@example.com'), 'each to both recipients');
        ctx.note('cloud', `subjects: ${ctx.delivered(mark).map((m) => subjectOf(m.raw)).join(' | ')}`);
        const home = textOf(/<section class="device-status"[\s\S]*?<\/section>/.exec((await ctx.first.panel.get('/')).html)?.[0] ?? '');
        ctx.note('panel', `Device Status: ${home}`);
        for (const label of ['Toner low', 'Paper jam', 'Service call']) ctx.expectMatch(home, label, `Device Status shows "${label}"`);
        ctx.expectEqual((await ctx.status()).events.length, 3, 'active events (bridge status)');
      },
    },
    {
      title: 'cleared → Ready, no alert mail',
      async run(ctx) {
        const answer = await ctx.first.printer.event('cleared');
        ctx.expectEqual(answer.alertJobId, null, 'no alert mail for cleared');
        const home = textOf(/<section class="device-status"[\s\S]*?<\/section>/.exec((await ctx.first.panel.get('/')).html)?.[0] ?? '');
        ctx.note('panel', `Device Status: ${home}`);
        ctx.expectMatch(home, 'Ready', 'Device Status shows Ready');
      },
    },
  ],
};
